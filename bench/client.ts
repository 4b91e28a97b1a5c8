/**
 * Client throughput: holdfast `request` and `fetch` beside undici's `request`, undici's `Pool`,
 * Node's `http.Agent` and the global `fetch`, against one loopback node:http server running in a
 * child process (so server work does not share the clients' event loop). Keep-alive GET (small
 * and 64 KiB bodies) and POST, at concurrency 1 and 50. Also measures the cost of the liveness
 * turn (holdfast with `livenessCheck: false`). Prints a table; returns the figures.
 *
 * Run alone: `npx node bench/client.ts` (or `npm run bench -- client`).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { request as undiciRequest, Pool as UndiciPool, Agent as UndiciAgent } from 'undici';
import { Agent } from '../src/client/index.ts';

const WARMUP_MS = 200;
const RUN_MS = 1000;

const SERVER = `
const http = require('node:http');
const small = Buffer.from('hello, world');
const big = Buffer.alloc(64 * 1024, 120);
const s = http.createServer((req, res) => {
  if (req.method === 'POST') {
    let n = 0;
    req.on('data', (c) => { n += c.length; });
    req.on('end', () => { res.setHeader('content-length', String(String(n).length)); res.end(String(n)); });
    return;
  }
  const body = req.url === '/big' ? big : small;
  res.setHeader('content-length', body.length);
  res.end(body);
});
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;

type Client = (path: string, post: boolean) => Promise<void>;

interface Scenario { name: string; path: string; post: boolean }
const SCENARIOS: Scenario[] = [
  { name: 'GET small', path: '/small', post: false },
  { name: 'GET 64 KiB', path: '/big', post: false },
  { name: 'POST 1 KiB', path: '/post', post: true },
];
const POST_BODY = Buffer.alloc(1024, 97);

async function measure(client: Client, s: Scenario, concurrency: number): Promise<number> {
  let count = 0;
  let stop = false;
  let counting = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      await client(s.path, s.post);
      if (counting) count++;
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, RUN_MS));
  counting = false;
  const elapsed = performance.now() - t0;
  stop = true;
  await Promise.all(workers);
  return Math.round((count / elapsed) * 1000);
}

export async function run(): Promise<object> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    const origin = `http://127.0.0.1:${port}`;

    const hf = new Agent({ connections: 50 });
    const hfNoTurn = new Agent({ connections: 50, livenessCheck: false });
    const undiciAgent = new UndiciAgent({ connections: 50 });
    const pool = new UndiciPool(origin, { connections: 50 });
    const nodeAgent = new http.Agent({ keepAlive: true, maxSockets: 50 });

    const clients: Record<string, Client> = {
      'holdfast request': async (path, post) => {
        const res = await hf.request(origin + path, post ? { method: 'POST', body: POST_BODY } : undefined);
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
      'holdfast request (no liveness turn)': async (path, post) => {
        const res = await hfNoTurn.request(origin + path, post ? { method: 'POST', body: POST_BODY } : undefined);
        await res.body.bytes();
      },
    };

    const results: Record<string, Record<string, number>> = {};
    const ratios: Record<string, Record<string, number>> = {};
    for (const s of SCENARIOS) {
      for (const c of [1, 50]) {
        const key = `${s.name} c=${c}`;
        const row: Record<string, number> = {};
        for (const [name, client] of Object.entries(clients)) {
          if (name.includes('no liveness') && s.post) continue;
          row[name] = await measure(client, s, c);
        }
        results[key] = row;
        ratios[key] = {
          'holdfast request / undici request': round(row['holdfast request']! / row['undici request']!),
          'holdfast fetch / global fetch': round(row['holdfast fetch']! / row['global fetch']!),
          ...(row['holdfast request (no liveness turn)'] !== undefined
            ? { 'liveness turn cost (with / without)': round(row['holdfast request']! / row['holdfast request (no liveness turn)']!) }
            : {}),
        };
        process.stdout.write(`${key.padEnd(18)} ${Object.entries(row).map(([k, v]) => `${k}: ${v}`).join(' | ')}\n`);
        process.stdout.write(`${''.padEnd(18)} ${Object.entries(ratios[key]!).map(([k, v]) => `${k} = ${v}`).join(' | ')}\n`);
      }
    }
    await Promise.all([hf.close(), hfNoTurn.close(), undiciAgent.close(), pool.close()]);
    nodeAgent.destroy();
    return { unit: 'requests/s', warmupMs: WARMUP_MS, runMs: RUN_MS, results, ratios };
  } finally {
    child.kill();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.main) {
  const out = await run();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
