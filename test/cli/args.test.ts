// The flag parsing every `holdfast` command shares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError, choiceFlag, integerFlag, nonEmptyFlag, parseCommandLine, positiveNumberFlag } from '../../src/cli/args.ts';

test('integerFlag takes decimal digits within the range and nothing Number() would also take', () => {
  assert.equal(integerFlag('port', undefined, 0, 65535), undefined);
  assert.equal(integerFlag('port', '0', 0, 65535), 0);
  assert.equal(integerFlag('port', '65535', 0, 65535), 65535);
  for (const bad of ['', ' 80', '80 ', '0x50', '1e3', '-1', '+1', '1.0', '65536', '\u00a080']) {
    assert.throws(() => integerFlag('port', bad, 0, 65535), UsageError, JSON.stringify(bad));
  }
  assert.throws(() => integerFlag('max-fails', '0', 1), { message: '--max-fails needs an integer >= 1, got "0"' });
  assert.throws(() => integerFlag('n', '9007199254740993', 0), UsageError);
});

test('positiveNumberFlag takes a positive decimal, fractions included', () => {
  assert.equal(positiveNumberFlag('repeat', '2'), 2);
  assert.equal(positiveNumberFlag('repeat', '0.5'), 0.5);
  assert.equal(positiveNumberFlag('repeat', '.5'), 0.5);
  for (const bad of ['0', '0.0', '', 'zero', '-1', 'Infinity', '1e2', '0x2']) {
    assert.throws(() => positiveNumberFlag('repeat', bad), UsageError, JSON.stringify(bad));
  }
});

test('string flags: an empty value and a value outside the choices are usage errors', () => {
  assert.equal(nonEmptyFlag('host', undefined), undefined);
  assert.equal(nonEmptyFlag('host', '::1'), '::1');
  assert.throws(() => nonEmptyFlag('host', ''), { message: '--host needs a value' });
  assert.equal(choiceFlag('forwarded', 'both', ['x-forwarded', 'forwarded', 'both', 'none']), 'both');
  assert.throws(() => choiceFlag('forwarded', 'Both', ['x-forwarded', 'both']), { message: '--forwarded must be x-forwarded or both, got "Both"' });
});

test('parseCommandLine is strict and reports with UsageError', () => {
  const options = { port: { type: 'string' as const }, help: { type: 'boolean' as const, short: 'h' } };
  assert.deepEqual({ ...parseCommandLine({ args: ['--port=1', '-h'], options }).values }, { port: '1', help: true });
  assert.throws(() => parseCommandLine({ args: ['--prot', '1'], options }), (err: unknown) => err instanceof UsageError && err.code === 'HF_CLI_USAGE' && /Unknown option '--prot'/.test(err.message));
  assert.throws(() => parseCommandLine({ args: ['--port'], options }), UsageError);
  assert.throws(() => parseCommandLine({ args: ['stray'], options }), UsageError);
});
