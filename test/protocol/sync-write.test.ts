import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSyncWrite, syncWriteQuery } from '../../src/protocol/sync-write.ts';

test('?replicas=N&timeout=ms: whole numbers in range, timeout only with replicas', () => {
  const q = (s: string) => parseSyncWrite(new URLSearchParams(s));
  assert.equal(q(''), undefined);
  assert.deepEqual(q('replicas=2'), { replicas: 2, timeoutMs: 5_000 });
  assert.deepEqual(q('replicas=1&timeout=250'), { replicas: 1, timeoutMs: 250 });
  for (const bad of ['replicas=', 'replicas=0', 'replicas=+1', 'replicas=1e1', 'replicas=101', 'replicas=1&timeout=60001', 'replicas=1&timeout=', 'timeout=5']) {
    assert.throws(() => q(bad), { code: 'EINVALID' }, bad);
  }
  assert.equal(syncWriteQuery(undefined), '');
  assert.equal(syncWriteQuery('2', '300'), '?replicas=2&timeout=300');
});
