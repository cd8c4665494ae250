import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc64, crc64Final, crc64Init, crc64Update } from '../../src/ltx/crc64.ts';

test('CRC-64/GO-ISO check value of "123456789" is 0xb90956c775a41001', () => {
  assert.equal(crc64(Buffer.from('123456789')), 0xb90956c775a41001n);
});

test('the empty input hashes to 0, as Go computes it', () => {
  assert.equal(crc64(new Uint8Array(0)), 0n);
});

test('streaming in uneven, unaligned pieces gives the same CRC as one call', () => {
  const data = Buffer.alloc(10_007);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  const whole = crc64(data);
  const s = crc64Init();
  for (const [a, b] of [[0, 3], [3, 1001], [1001, 1002], [1002, 9000], [9000, 10_007]] as const) crc64Update(s, data, a, b);
  assert.equal(crc64Final(s), whole);
  const shifted = Buffer.alloc(data.length + 1);
  data.copy(shifted, 1);
  assert.equal(crc64(shifted.subarray(1)), whole);
});
