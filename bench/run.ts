/**
 * `npm run bench`: runs every benchmark module in bench/ (each exports `run(): Promise<unknown>`
 * and prints its own table), then writes all results to bench/results/latest.json.
 * `npm run bench -- parser client` runs only the named modules.
 */
import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import os from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const modules = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();

const results: Record<string, unknown> = {};
for (const name of modules) {
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { run?: () => Promise<unknown> };
  if (typeof mod.run !== 'function') continue;
  process.stdout.write(`\n=== ${name} ===\n`);
  const started = Date.now();
  try {
    results[name] = await mod.run();
  } catch (err) {
    process.stdout.write(`bench ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
    results[name] = { error: String(err) };
    process.exitCode = 1;
  }
  process.stdout.write(`(${name}: ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

const out = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  results,
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`\nwrote bench/results/latest.json\n`);
