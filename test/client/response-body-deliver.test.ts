/**
 * ResponseBody.deliver: the callback-driven way to read a body (the undici dispatcher adapter's),
 * with chunks handed over inside the connection's push, held while the sink is paused, and the
 * end only after the last held chunk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseBody } from '../../src/client/index.ts';
import type { BodySink } from '../../src/client/responseBody.ts';

function source(): { log: string[]; pause(): void; resume(): void; cancel(): void } {
  const log: string[] = [];
  return { log, pause: () => log.push('pause'), resume: () => log.push('resume'), cancel: () => log.push('cancel') };
}

function recorder(accept: (n: number) => boolean = () => true): BodySink & { events: string[] } {
  const events: string[] = [];
  let n = 0;
  return {
    events,
    data(chunk) {
      events.push(`data:${chunk.toString()}`);
      return accept(++n);
    },
    end() { events.push('end'); },
    error(err) { events.push(`error:${err.message}`); },
  };
}

test('deliver hands over what is buffered, then each chunk inside push, then the end', async () => {
  const body = new ResponseBody(source());
  body.push(Buffer.from('a'));
  const sink = recorder();
  body.deliver(sink, false);
  assert.deepEqual(sink.events, ['data:a']);
  body.push(Buffer.from('b'));
  // Synchronously: no promise or turn between the connection's push and the sink.
  assert.deepEqual(sink.events, ['data:a', 'data:b']);
  body.end();
  assert.deepEqual(sink.events, ['data:a', 'data:b', 'end']);
  await assert.rejects(body.text(), /already used/);
});

test('a paused sink gets nothing, the source pauses past the high-water mark, and resuming delivers in order before the end', () => {
  const src = source();
  const body = new ResponseBody(src);
  const sink = recorder((n) => n !== 1);
  body.deliver(sink, false);
  body.push(Buffer.from('1'));
  assert.deepEqual(sink.events, ['data:1']);
  const big = Buffer.alloc(300 * 1024, 120);
  body.push(big);
  body.push(Buffer.from('3'));
  body.end();
  assert.deepEqual(sink.events, ['data:1'], 'nothing while paused, not even the end');
  assert.deepEqual(src.log, ['pause'], 'the source is paused once the held bytes pass the high-water mark');
  body.setDeliveryPaused(false);
  assert.deepEqual(sink.events, ['data:1', `data:${big.toString()}`, 'data:3', 'end']);
  // Paused by the last chunk, with nothing held: the end waits for the resume too, as undici's
  // client holds its message-complete while a handler is paused.
  const last = new ResponseBody(source());
  const lastSink = recorder(() => false);
  last.deliver(lastSink, false);
  last.push(Buffer.from('z'));
  last.end();
  assert.deepEqual(lastSink.events, ['data:z']);
  last.setDeliveryPaused(false);
  assert.deepEqual(lastSink.events, ['data:z', 'end']);
});

test('a sink paused from the start and resumed later; a resume from inside data() is left to the running loop', () => {
  const body = new ResponseBody(source());
  body.push(Buffer.from('x'));
  body.push(Buffer.from('y'));
  const events: string[] = [];
  const sink: BodySink = {
    data(chunk) {
      events.push(chunk.toString());
      // Re-entrant resume: must not deliver 'y' before this call returns.
      body.setDeliveryPaused(false);
      events.push(`after ${chunk.toString()}`);
      return true;
    },
    end() { events.push('end'); },
    error() { events.push('error'); },
  };
  body.deliver(sink, true);
  assert.deepEqual(events, []);
  body.setDeliveryPaused(false);
  body.end();
  assert.deepEqual(events, ['x', 'after x', 'y', 'after y', 'end']);
});

test('an error is told at once, ahead of held chunks, and nothing follows it', () => {
  const body = new ResponseBody(source());
  const sink = recorder(() => false);
  body.deliver(sink, false);
  body.push(Buffer.from('a'));
  body.push(Buffer.from('b'));
  body.fail(new Error('reset'));
  body.setDeliveryPaused(false);
  body.end();
  assert.deepEqual(sink.events, ['data:a', 'error:reset']);
  const failed = new ResponseBody(source());
  failed.fail(new Error('gone'));
  const late = recorder();
  failed.deliver(late, false);
  assert.deepEqual(late.events, ['error:gone']);
});
