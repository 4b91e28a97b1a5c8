/**
 * Every ```ts example in README.md runs: each block is written to a file of its own, its
 * `from 'holdfast…'` imports pointed at the source entry files, and run in a child process that
 * must exit 0 on its own (so an example that leaves a server or a socket open fails too). A block
 * marked `<!-- readme-test: skip (why) -->` on the line before is a program that runs until it is
 * stopped; the reason is required. Every block, skipped ones included, must also type-check
 * under the project's compiler settings: a renamed option or type fails here, not in a reader's
 * editor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('../', import.meta.url);
const ENTRIES: Record<string, string> = {
  'holdfast': 'src/client/index.ts',
  'holdfast/wire': 'src/wire/index.ts',
  'holdfast/server': 'src/server/index.ts',
  'holdfast/cache': 'src/cache/index.ts',
  'holdfast/proxy': 'src/proxy/index.ts',
  'holdfast/lab': 'src/lab/index.ts',
  'holdfast/internals': 'src/internals.ts',
};

interface Block { line: number; code: string; skip: string | null }

function tsBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    const before = lines[start - 1] ?? '';
    const skip = /^<!-- readme-test: skip \((.+)\) -->$/.exec(before);
    blocks.push({ line: start + 1, code: body.join('\n'), skip: skip === null ? null : skip[1]! });
  }
  return blocks;
}

function pointAtSources(code: string): string {
  return code.replace(/from '(holdfast(?:\/[a-z]+)?)'/g, (_m, name: string) => {
    const file = ENTRIES[name];
    assert.ok(file !== undefined, `README imports an entry that does not exist: ${name}`);
    return `from '${new URL(file, root).pathname}'`;
  });
}

function run(file: string, cwd: string, args: string[] = [], command = process.execPath): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, [...args, file], { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

const readme = await readFile(new URL('README.md', root), 'utf8');
const blocks = tsBlocks(readme);

test('README has runnable examples, and every skipped one says why', () => {
  assert.ok(blocks.filter((b) => b.skip === null).length >= 6, `${blocks.length} blocks`);
  // A `<!-- readme-test: skip` that does not match the format would silently run (or not): refuse it.
  assert.equal((readme.match(/readme-test/g) ?? []).length, blocks.filter((b) => b.skip !== null).length);
});

test('every README example type-checks', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-readme-tsc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files: string[] = [];
  for (const block of blocks) {
    const file = join(dir, `readme-${block.line}.mts`);
    // Each file is a module of its own (top-level await, no name clashes between blocks).
    await writeFile(file, `${pointAtSources(block.code)}\nexport {};\n`);
    files.push(file);
  }
  const base = JSON.parse(await readFile(new URL('tsconfig.json', root), 'utf8')) as { compilerOptions: Record<string, unknown> };
  const config = {
    // The entries are imported by absolute path, which emit would not rewrite; nothing is emitted.
    compilerOptions: { ...base.compilerOptions, typeRoots: [new URL('node_modules/@types', root).pathname], noEmit: true, rewriteRelativeImportExtensions: false },
    files,
  };
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(config));
  const tsc = new URL('node_modules/typescript/bin/tsc', root).pathname;
  const result = await run(join(dir, 'tsconfig.json'), dir, [tsc, '-p']);
  assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
});

for (const block of blocks) {
  const first = block.code.split('\n').find((l) => l.startsWith('import')) ?? '';
  test(`README.md:${block.line} runs (${first.slice(0, 60)})`, { skip: block.skip ?? false }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'holdfast-readme-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, `readme-${block.line}.mts`);
    await writeFile(file, pointAtSources(block.code));
    const result = await run(pathToFileURL(file).pathname, dir);
    assert.equal(result.code, 0, `exit ${String(result.code)}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  });
}
