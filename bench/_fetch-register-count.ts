/**
 * A fixed number of requests, for instruction counts where wall-clock figures are too noisy (a
 * shared machine): run it under callgrind with two request counts, and the difference of the
 * totals divided by the difference of the counts is the client's instructions per request, with
 * start-up and warm-up cancelled out.
 *
 * ```sh
 * for n in 100 400; do
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null node bench/_fetch-register-count.ts dispatch-holdfast /big 1 200 $n
 * done   # per request = (Ir(400) - Ir(100)) / 300
 * ```
 *
 * Subjects: `fetch-default` and `fetch-holdfast` (the global `fetch`, default dispatcher or
 * holdfast installed), `dispatch-undici` and `dispatch-holdfast` (the dispatchers alone, with the
 * minimal handler of bench/fetch-register.ts). Arguments: subject, path (`/small`, `/big`,
 * `/post`), concurrency, warm-up requests, measured requests. Not part of `npm run bench`.
 */
import { Agent, HoldfastDispatcher, installGlobalDispatcher } from '../src/client/index.ts';
import { POST_BODY, startTarget } from './_client-rig.ts';

const [subject = 'dispatch-holdfast', path = '/small', c = '1', warm = '200', n = '400'] = process.argv.slice(2);
const { origin, child } = await startTarget();
const agent = new Agent({ connections: 50 });
void globalThis.Response;
const undiciAgent = (globalThis as unknown as Record<symbol, HoldfastDispatcher>)[Symbol.for('undici.globalDispatcher.1')]!;
const holdfast = new HoldfastDispatcher(agent);
if (subject === 'fetch-holdfast') installGlobalDispatcher(holdfast);
const post = path === '/post';
const headers = { accept: '*/*', 'accept-language': '*', 'sec-fetch-mode': 'cors', 'user-agent': 'node', 'accept-encoding': 'gzip, deflate' };
const dispatcher = subject === 'dispatch-undici' ? undiciAgent : holdfast;
const one = subject.startsWith('fetch-')
  ? async (): Promise<void> => {
    const res = await fetch(origin + path, post ? { method: 'POST', body: POST_BODY } : undefined);
    await res.arrayBuffer();
  }
  : (): Promise<void> => new Promise((resolve, reject) => {
    dispatcher.dispatch({
      origin,
      path,
      method: post ? 'POST' : 'GET',
      headers: post ? { ...headers, 'content-length': String(POST_BODY.length) } : headers,
      body: post ? POST_BODY : null,
    }, {
      onConnect() {},
      onHeaders() { return true; },
      onData() { return true; },
      onComplete() { resolve(); },
      onError: reject,
    });
  });

async function requests(total: number): Promise<void> {
  let left = total;
  await Promise.all(Array.from({ length: Number(c) }, async () => {
    while (left-- > 0) await one();
  }));
}

await requests(Number(warm));
const cpu0 = process.cpuUsage();
await requests(Number(n));
const cpu = process.cpuUsage(cpu0);
process.stderr.write(`${subject} ${path} c=${c}: ${n} requests, ${((cpu.user + cpu.system) / Number(n)).toFixed(0)} µs CPU per request\n`);
await agent.destroy();
child.kill();
