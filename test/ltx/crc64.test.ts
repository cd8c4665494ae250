import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc64, crc64Combine, crc64Final, crc64Init, crc64Shift, crc64Update } from '../../src/ltx/crc64.ts';

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

test('the CRC of A‖B combines from the CRCs of A and B, for any lengths', () => {
  const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 11) & 0xff);
  const finished = (d: Uint8Array) => {
    const s = crc64Init();
    crc64Update(s, d);
    return { hi: ~s.hi, lo: ~s.lo };
  };
  for (const [la, lb] of [[0, 5], [4100, 4100], [17, 3], [4, 0], [1, 65540]] as const) {
    const a = bytes(la, 13);
    const b = bytes(lb, 29);
    const got = finished(a);
    crc64Combine(got, finished(b), crc64Shift(lb));
    assert.equal((BigInt(got.hi >>> 0) << 32n) | BigInt(got.lo >>> 0), crc64(Buffer.concat([a, b])), `${la} + ${lb} bytes`);
  }
});
