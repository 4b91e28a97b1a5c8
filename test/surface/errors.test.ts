/**
 * One error base: every error class any public entry exports extends `HoldfastError` and carries
 * a string `code` (`HF_...`), and every entry exports the same `HoldfastError`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from '../../src/client/index.ts';
import * as wire from '../../src/wire/index.ts';
import * as server from '../../src/server/index.ts';
import * as cache from '../../src/cache/index.ts';
import * as proxy from '../../src/proxy/index.ts';
import * as lab from '../../src/lab/index.ts';
import * as internals from '../../src/internals.ts';
import { HoldfastError } from '../../src/wire/holdfastError.ts';

const entries: Record<string, Record<string, unknown>> = { holdfast: client, wire, server, cache, proxy, lab, internals };

type ErrorClass = new (...args: unknown[]) => Error;

function errorClasses(entry: Record<string, unknown>): Array<[string, ErrorClass]> {
  return Object.entries(entry).filter((e): e is [string, ErrorClass] => {
    const v = e[1];
    return typeof v === 'function' && (v === Error || v.prototype instanceof Error);
  });
}

test('every entry point exports the one HoldfastError', () => {
  for (const [name, entry] of Object.entries(entries)) {
    if (name === 'internals') continue;
    assert.equal(entry['HoldfastError'], HoldfastError, name);
  }
});

test('every exported error class extends HoldfastError and its instances carry a string HF_ code', () => {
  let seen = 0;
  for (const [entryName, entry] of Object.entries(entries)) {
    for (const [name, Cls] of errorClasses(entry)) {
      seen++;
      assert.ok(Cls === HoldfastError || Cls.prototype instanceof HoldfastError, `${entryName}.${name} does not extend HoldfastError`);
      // The constructors differ; these arguments fit each of them well enough to build an instance.
      const err = new Cls('HF_TEST', 'message', 'connect', false, 0) as Error & { code?: unknown };
      assert.ok(err instanceof HoldfastError, `${entryName}.${name}`);
      assert.equal(typeof err.code, 'string', `${entryName}.${name}.code`);
      assert.match(err.code, /^HF_[A-Z0-9_]+$/, `${entryName}.${name}.code`);
    }
  }
  // The client alone has more than ten; a filter that matched nothing would prove nothing.
  assert.ok(seen > 20, `only ${seen} error classes found`);
});

test('cause is kept', () => {
  const cause = new Error('underneath');
  const err = new HoldfastError('HF_TEST', 'outer', { cause });
  assert.equal(err.cause, cause);
  assert.equal(new client.ConnectError('refused', cause).cause, cause);
  assert.equal(new server.ServerError('HF_SERVER_BODY_TRUNCATED', 'cut', 400, { cause }).cause, cause);
});
