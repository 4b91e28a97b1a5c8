#!/usr/bin/env node
// The `holdfast` command. Runs the TypeScript sources directly where Node strips types
// (Node >= 22.18 / 23.6, a fresh clone), otherwise the compiled build in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
const built = join(root, 'dist', 'cli', 'main.js');
const canStrip = Boolean(process.features && process.features.typescript);
const entry = canStrip && existsSync(source) ? source : built;
if (!existsSync(entry)) {
  process.stderr.write('holdfast: no build found; run `npm install` (or `npm run build`) first\n');
  process.exit(2);
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
