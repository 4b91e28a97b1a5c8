/**
 * The global `fetch` as applications call it, with Node's default dispatcher and with
 * `holdfast/register` (holdfast installed as the global dispatcher), against the same loopback
 * node:http server in a child process. The calling code is identical in both columns; only the
 * dispatcher behind it differs, so the ratio is what one `--import` changes. Node's WHATWG layer
 * (Request/Response objects, header lists, streams) runs in both and is not holdfast's to speed up.
 *
 * Method as in bench/client.ts: rounds interleave the two columns (order alternating), each run
 * after a warm-up and a forced GC; the figure is the median, the spread beside it, and the
 * client CPU time per request. The holdfast column installs the dispatcher for its run and
 * removes it afterwards, so the default column never runs on it.
 *
 * The last two cells measure the dispatchers alone (`dispatch()` with a minimal handler, no
 * fetch around it): undici's Agent, which Node's fetch uses by default, beside
 * `HoldfastDispatcher`, on a small GET at c=50 and a 64 KiB GET at c=1. They show where the time
 * of a global `fetch` goes: the dispatcher is a minority of it, and the WHATWG layer above it is
 * the same in both columns, which bounds what swapping the dispatcher can gain.
 *
 * Run alone: `npm run bench -- fetch-register`. About 45 s.
 */
import { Agent, HoldfastDispatcher, installGlobalDispatcher, uninstallGlobalDispatcher } from '../src/client/index.ts';
import { POST_BODY, SCENARIOS, ROUNDS, RUN_MS, WARMUP_MS, INITIAL_WARMUP_MS, figure, measureWith, printCell, round2, startTarget, type Figure, type Run, type Scenario } from './_client-rig.ts';

const DEFAULT = 'global fetch (default dispatcher)';
const REGISTERED = 'global fetch (holdfast/register)';

function measure(origin: string, s: Scenario, concurrency: number, warmupMs: number, runMs: number): Promise<Run> {
  return measureWith(async () => {
    const res = await fetch(origin + s.path, s.post ? { method: 'POST', body: POST_BODY } : undefined);
    await res.arrayBuffer();
  }, concurrency, warmupMs, runMs);
}

export async function run(): Promise<object> {
  const { origin, child } = await startTarget();
  // One agent for every holdfast run, as one `--import` gives one for the process.
  const agent = new Agent({ connections: 50 });
  try {
    const runAs = async (name: string, s: Scenario, c: number, warmupMs: number, runMs: number): Promise<Run> => {
      if (name !== REGISTERED) return measure(origin, s, c, warmupMs, runMs);
      installGlobalDispatcher(agent);
      try {
        return await measure(origin, s, c, warmupMs, runMs);
      } finally {
        uninstallGlobalDispatcher();
      }
    };
    const names = [DEFAULT, REGISTERED];
    for (const name of names) await runAs(name, SCENARIOS[0]!, 50, 0, INITIAL_WARMUP_MS);

    const results: Record<string, Record<string, Figure>> = {};
    const ratios: Record<string, Record<string, number>> = {};
    for (const s of SCENARIOS) {
      for (const c of [1, 50]) {
        const key = `${s.name} c=${c}`;
        const runs: Record<string, Run[]> = { [DEFAULT]: [], [REGISTERED]: [] };
        for (let r = 0; r < ROUNDS; r++) {
          const order = r % 2 === 0 ? names : [...names].reverse();
          for (const name of order) runs[name]!.push(await runAs(name, s, c, WARMUP_MS, RUN_MS));
        }
        const row: Record<string, Figure> = {};
        for (const name of names) row[name] = figure(runs[name]!);
        results[key] = row;
        ratios[key] = {
          'registered / default (req/s)': round2(row[REGISTERED]!.rps / row[DEFAULT]!.rps),
          'CPU per request, registered / default': round2(row[REGISTERED]!.cpuUsPerReq / row[DEFAULT]!.cpuUsPerReq),
        };
        printCell(key, row, ratios[key]);
      }
    }
    // The dispatchers alone, with the request fetch would pass for a GET: undici's Agent (the
    // one Node's fetch uses by default) beside HoldfastDispatcher, each with a minimal handler of
    // the shape Node's fetch passes. What the adapter costs shows here without the WHATWG layer.
    void globalThis.Response;
    const nodeDefault = (globalThis as unknown as Record<symbol, HoldfastDispatcher>)[Symbol.for('undici.globalDispatcher.1')]!;
    const holdfast = new HoldfastDispatcher(agent);
    const headers = { accept: '*/*', 'accept-language': '*', 'sec-fetch-mode': 'cors', 'user-agent': 'node', 'accept-encoding': 'gzip, deflate' };
    const dispatchOnce = (d: HoldfastDispatcher, path: string): Promise<void> => new Promise((resolve, reject) => {
      d.dispatch({ origin, path, method: 'GET', headers, body: null, maxRedirections: 0 }, {
        onConnect() {},
        onHeaders() { return true; },
        onData() { return true; },
        onComplete() { resolve(); },
        onError: reject,
      });
    });
    const DISPATCH_DEFAULT = 'dispatch(): undici Agent';
    const DISPATCH_HOLDFAST = 'dispatch(): HoldfastDispatcher';
    for (const [s, c] of [[SCENARIOS[0]!, 50], [SCENARIOS[1]!, 1]] as const) {
      const dispatchRuns: Record<string, Run[]> = { [DISPATCH_DEFAULT]: [], [DISPATCH_HOLDFAST]: [] };
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 === 0 ? [DISPATCH_DEFAULT, DISPATCH_HOLDFAST] : [DISPATCH_HOLDFAST, DISPATCH_DEFAULT];
        for (const name of order) {
          const d = name === DISPATCH_DEFAULT ? nodeDefault : holdfast;
          dispatchRuns[name]!.push(await measureWith(() => dispatchOnce(d, s.path), c, WARMUP_MS, RUN_MS));
        }
      }
      const key = `${s.name} c=${c}, dispatcher alone`;
      const row: Record<string, Figure> = {};
      for (const [name, rs] of Object.entries(dispatchRuns)) row[name] = figure(rs);
      results[key] = row;
      ratios[key] = {
        'holdfast / undici (req/s)': round2(row[DISPATCH_HOLDFAST]!.rps / row[DISPATCH_DEFAULT]!.rps),
        'CPU per request, holdfast / undici': round2(row[DISPATCH_HOLDFAST]!.cpuUsPerReq / row[DISPATCH_DEFAULT]!.cpuUsPerReq),
      };
      printCell(key, row, ratios[key]);
    }
    return { unit: 'requests/s (median of rounds); CPU µs per request (client process)', rounds: ROUNDS, runMs: RUN_MS, warmupMs: WARMUP_MS, results, ratios };
  } finally {
    await agent.destroy();
    child.kill();
  }
}

if (import.meta.main) {
  const out = await run();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
