/**
 * Client throughput: holdfast `request` and `fetch` beside undici's `request`, undici's `Pool`,
 * Node's `http.Agent` and the global `fetch`, against one loopback node:http server running in a
 * child process (so server work does not share the clients' event loop; the same child serves
 * every run). Keep-alive GET (small and 64 KiB bodies) and POST, at concurrency 1 and 50. Also
 * measures the cost of the liveness turn on reused connections (holdfast `request` with
 * `livenessCheck: false` beside the default).
 *
 * Method, chosen because the machines this runs on are small and shared (2 cores, other jobs):
 * - every cell (scenario × concurrency) runs each client ROUNDS times, interleaved (round 1 runs
 *   every client once, then round 2...), with the order rotated each round, so that a burst of
 *   outside load hits all clients alike instead of one; each run is preceded by a short warm-up
 *   (reopens connections a client's idle timer closed, re-warms its code) and a forced GC, so
 *   one client's garbage is not collected on the next one's clock;
 * - the figure is the median of the runs; the spread (min–max) is printed beside it;
 * - beside throughput, the client process's CPU time per request (user + system, from
 *   `process.cpuUsage`) is reported: it is much less sensitive to outside load than req/s, and
 *   the server's CPU is not in it;
 * - the liveness-turn ratio is the median of per-round ratios of two runs made back to back.
 *
 * Run alone: `npx node bench/client.ts` (or `npm run bench -- client`). About 90 s.
 * `HOLDFAST_BENCH_ROUNDS` and `HOLDFAST_BENCH_RUN_MS` override the defaults (3 and 500).
 */
import http from 'node:http';
import { request as undiciRequest, Pool as UndiciPool, Agent as UndiciAgent } from 'undici';
import { Agent } from '../src/client/index.ts';
import { POST_BODY, SCENARIOS, ROUNDS, RUN_MS, WARMUP_MS, INITIAL_WARMUP_MS, figure, measureWith, median, printCell, round2, startTarget, type Figure, type Run, type Scenario } from './_client-rig.ts';

type Client = (path: string, post: boolean) => Promise<void>;

const NO_TURN = 'holdfast request (no liveness turn)';

function measure(client: Client, s: Scenario, concurrency: number, warmupMs: number, runMs: number): Promise<Run> {
  return measureWith(() => client(s.path, s.post), concurrency, warmupMs, runMs);
}

export async function run(): Promise<object> {
  const { origin, child } = await startTarget();
  try {

    const hf = new Agent({ connections: 50 });
    const hfNoTurn = new Agent({ connections: 50, livenessCheck: false });
    const undiciAgent = new UndiciAgent({ connections: 50 });
    const pool = new UndiciPool(origin, { connections: 50 });
    const nodeAgent = new http.Agent({ keepAlive: true, maxSockets: 50 });

    // NO_TURN directly follows 'holdfast request' so that their runs are back to back.
    const clients: Record<string, Client> = {
      'holdfast request': async (path, post) => {
        const res = await hf.request(origin + path, post ? { method: 'POST', body: POST_BODY } : undefined);
        await res.body.bytes();
      },
      [NO_TURN]: async (path, post) => {
        const res = await hfNoTurn.request(origin + path, post ? { method: 'POST', body: POST_BODY } : undefined);
        await res.body.bytes();
      },
      'holdfast fetch': async (path, post) => {
        const res = await hf.fetch(origin + path, post ? { method: 'POST', body: POST_BODY } : undefined);
        await res.arrayBuffer();
      },
      'undici request': async (path, post) => {
        const res = await undiciRequest(origin + path, { dispatcher: undiciAgent, ...(post ? { method: 'POST', body: POST_BODY } : {}) });
        await res.body.arrayBuffer();
      },
      'undici Pool': async (path, post) => {
        const res = await pool.request({ path, method: post ? 'POST' : 'GET', ...(post ? { body: POST_BODY } : {}) });
        await res.body.arrayBuffer();
      },
      'node http.Agent': (path, post) => new Promise<void>((resolve, reject) => {
        const req = http.request(origin + path, { agent: nodeAgent, method: post ? 'POST' : 'GET' }, (res) => {
          res.on('data', () => {});
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(post ? POST_BODY : undefined);
      }),
      'global fetch': async (path, post) => {
        const res = await fetch(origin + path, post ? { method: 'POST', body: POST_BODY } : undefined);
        await res.arrayBuffer();
      },
    };
    const names = Object.keys(clients);

    for (const name of names) await measure(clients[name]!, SCENARIOS[0]!, 50, 0, INITIAL_WARMUP_MS);

    const results: Record<string, Record<string, Figure>> = {};
    const ratios: Record<string, Record<string, number>> = {};
    for (const s of SCENARIOS) {
      for (const c of [1, 50]) {
        const key = `${s.name} c=${c}`;
        // The liveness row only for GETs: the turn costs the same whatever the body.
        const active = names.filter((n) => !(n === NO_TURN && s.post));
        const runs: Record<string, Run[]> = Object.fromEntries(active.map((n) => [n, []]));
        const turnRatios: number[] = [];
        const turnCpuRatios: number[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          const rot = (r * 2) % active.length;
          const order = [...active.slice(rot), ...active.slice(0, rot)];
          const round: Record<string, Run> = {};
          for (const name of order) {
            const m = await measure(clients[name]!, s, c, WARMUP_MS, RUN_MS);
            round[name] = m;
            runs[name]!.push(m);
          }
          if (round[NO_TURN] !== undefined) {
            turnRatios.push(round['holdfast request']!.rps / round[NO_TURN].rps);
            turnCpuRatios.push(round['holdfast request']!.cpuUs / round[NO_TURN].cpuUs);
          }
        }
        const row: Record<string, Figure> = {};
        for (const name of active) row[name] = figure(runs[name]!);
        results[key] = row;
        const ratio: Record<string, number> = {
          'holdfast request / undici request': round2(row['holdfast request']!.rps / row['undici request']!.rps),
          'holdfast fetch / global fetch': round2(row['holdfast fetch']!.rps / row['global fetch']!.rps),
          'CPU per request, holdfast request / undici request': round2(row['holdfast request']!.cpuUsPerReq / row['undici request']!.cpuUsPerReq),
        };
        if (turnRatios.length > 0) {
          ratio['liveness turn: throughput with / without'] = round2(median(turnRatios));
          ratio['liveness turn: CPU per request with / without'] = round2(median(turnCpuRatios));
        }
        ratios[key] = ratio;
        printCell(key, row, ratio);
      }
    }
    await Promise.all([hf.close(), hfNoTurn.close(), undiciAgent.close(), pool.close()]);
    nodeAgent.destroy();
    return { unit: 'requests/s (median of rounds); CPU µs per request (client process)', rounds: ROUNDS, runMs: RUN_MS, warmupMs: WARMUP_MS, results, ratios };
  } finally {
    child.kill();
  }
}

if (import.meta.main) {
  const out = await run();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
