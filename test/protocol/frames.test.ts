import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, type Frame, FrameParser, frameChunks, FrameType, MAX_FRAME_PAYLOAD, StreamProtocolError } from '../../src/protocol/frames.ts';

/** Bytes from pieces: arrays of byte values as they are, strings as UTF-8. */
function bytes(...parts: Array<number[] | string>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
}

// Each frame beside the bytes the format says it is: u8 type, u32 big-endian payload length,
// payload. The lengths are counted by hand, not by the code under test.
const FIXTURES: Array<[string, Frame, Buffer]> = [
  ['LTX_BEGIN', { type: FrameType.LtxBegin, name: 'sqlite.db' }, bytes([0x01, 0x00, 0x00, 0x00, 0x09], 'sqlite.db')],
  ['LTX_DATA', { type: FrameType.LtxData, data: Buffer.from([0x4c, 0x54, 0x58, 0x31, 0x00, 0xff]) }, bytes([0x02, 0x00, 0x00, 0x00, 0x06, 0x4c, 0x54, 0x58, 0x31, 0x00, 0xff])],
  ['LTX_END', { type: FrameType.LtxEnd }, bytes([0x03, 0x00, 0x00, 0x00, 0x00])],
  ['READY', { type: FrameType.Ready }, bytes([0x04, 0x00, 0x00, 0x00, 0x00])],
  [
    'HEARTBEAT',
    { type: FrameType.Heartbeat, heartbeat: { time: 1700000000000, txids: { 'a.db': 42 }, nodes: [{ id: 'n1', url: 'http://h:1' }] } },
    bytes([0x05, 0x00, 0x00, 0x00, 0x53], '{"time":1700000000000,"txids":{"a.db":42},"nodes":[{"id":"n1","url":"http://h:1"}]}'),
  ],
  // é is two bytes in UTF-8: the length counts bytes, not characters.
  ['DROP_DB', { type: FrameType.DropDb, name: 'données.db' }, bytes([0x06, 0x00, 0x00, 0x00, 0x0b], 'données.db')],
  [
    'DIVERGED',
    { type: FrameType.Diverged, diverged: { name: 'a.db', points: ['0000000000000009/00000000000000ab'] } },
    bytes([0x07, 0x00, 0x00, 0x00, 0x3e], '{"name":"a.db","points":["0000000000000009/00000000000000ab"]}'),
  ],
  ['HANDOFF', { type: FrameType.Handoff, handoff: { positions: { 'a.db': '2/ff' } } }, bytes([0x08, 0x00, 0x00, 0x00, 0x1d], '{"positions":{"a.db":"2/ff"}}')],
  [
    'TERMS',
    { type: FrameType.Terms, terms: { name: 'a.db', terms: [[1, 1], [50, 2]] } },
    bytes([0x09, 0x00, 0x00, 0x00, 0x26], '{"name":"a.db","terms":[[1,1],[50,2]]}'),
  ],
];

const ALL_BYTES = Buffer.concat(FIXTURES.map(([, , b]) => b));
const ALL_FRAMES = FIXTURES.map(([, f]) => f);

test('every frame type encodes to its hand-written bytes and decodes from them', () => {
  for (const [name, frame, expected] of FIXTURES) {
    assert.equal(expected.readUInt32BE(1), expected.length - 5, `${name}: the fixture's length is its payload's`);
    assert.deepEqual(encodeFrame(frame), expected, `${name} encodes`);
    assert.deepEqual(new FrameParser().push(expected), [frame], `${name} decodes`);
  }
});

test('frameChunks gives the header and the payload apart: none when empty, an LTX chunk as the very buffer', () => {
  for (const [name, frame, expected] of FIXTURES) {
    const [head, payload] = frameChunks(frame);
    assert.deepEqual(head, expected.subarray(0, 5), name);
    assert.deepEqual(payload, expected.length > 5 ? expected.subarray(5) : undefined, name);
  }
  const data = Buffer.from('page bytes');
  assert.equal(frameChunks({ type: FrameType.LtxData, data })[1], data, 'not copied');
});

test('several frames in one chunk come out in order', () => {
  assert.deepEqual(new FrameParser().push(ALL_BYTES), ALL_FRAMES);
});

test('the stream split at any byte, or pushed a byte at a time, gives the same frames', () => {
  for (let at = 0; at <= ALL_BYTES.length; at++) {
    const p = new FrameParser();
    const frames = [...p.push(ALL_BYTES.subarray(0, at)), ...p.push(ALL_BYTES.subarray(at))];
    assert.deepEqual(frames, ALL_FRAMES, `split at ${at}`);
  }
  const p = new FrameParser();
  const frames: Frame[] = [];
  for (let i = 0; i < ALL_BYTES.length; i++) frames.push(...p.push(ALL_BYTES.subarray(i, i + 1)));
  assert.deepEqual(frames, ALL_FRAMES);
});

test('a frame cut anywhere yields nothing until the rest arrives', () => {
  const begin = FIXTURES[0]![2];
  for (let at = 1; at < begin.length; at++) {
    const p = new FrameParser();
    assert.deepEqual(p.push(begin.subarray(0, at)), [], `first ${at} bytes`);
    assert.deepEqual(p.push(begin.subarray(at)), [FIXTURES[0]![1]], `then the other ${begin.length - at}`);
  }
  // A large payload in many pieces: nothing until its last byte, then all of it.
  const data = Buffer.alloc(100_000, 0x5a);
  const wire = encodeFrame({ type: FrameType.LtxData, data });
  const pieces: Buffer[] = [];
  for (let off = 0; off < wire.length; off += 1000) pieces.push(wire.subarray(off, off + 1000));
  const last = pieces.pop()!;
  const p = new FrameParser();
  for (const piece of pieces) assert.deepEqual(p.push(piece), []);
  assert.deepEqual(p.push(last), [{ type: FrameType.LtxData, data }]);
});

test('a length over MAX_FRAME_PAYLOAD is refused from the header alone; MAX_FRAME_PAYLOAD itself is a frame', () => {
  const header = (type: number, len: number) => {
    const h = Buffer.alloc(5);
    h.writeUInt8(type, 0);
    h.writeUInt32BE(len, 1);
    return h;
  };
  for (const len of [MAX_FRAME_PAYLOAD + 1, 0xffffffff]) {
    assert.throws(() => new FrameParser().push(header(FrameType.LtxData, len)), StreamProtocolError, `${len} bytes`);
    // The header itself split: refused as soon as its fifth byte is there.
    const p = new FrameParser();
    assert.deepEqual(p.push(header(FrameType.LtxData, len).subarray(0, 4)), []);
    assert.throws(() => p.push(header(FrameType.LtxData, len).subarray(4)), (err: unknown) => err instanceof StreamProtocolError && err.code === 'ESTREAM');
  }
  const p = new FrameParser();
  assert.deepEqual(p.push(header(FrameType.LtxData, MAX_FRAME_PAYLOAD)), []);
  const [frame] = p.push(Buffer.alloc(MAX_FRAME_PAYLOAD, 1));
  assert.equal(frame?.type === FrameType.LtxData && frame.data.length, MAX_FRAME_PAYLOAD);
});

test('an unknown frame type is a StreamProtocolError', () => {
  for (const type of [0x00, 0x0a, 0xff]) {
    assert.throws(() => new FrameParser().push(bytes([type, 0x00, 0x00, 0x00, 0x02], 'hi')), StreamProtocolError, `type ${type}`);
    assert.throws(() => new FrameParser().push(bytes([type, 0x00, 0x00, 0x00, 0x00])), StreamProtocolError, `type ${type}, empty`);
  }
});

test('a control frame whose payload is not JSON is a StreamProtocolError', () => {
  for (const type of [FrameType.Heartbeat, FrameType.Diverged, FrameType.Handoff, FrameType.Terms]) {
    assert.throws(() => new FrameParser().push(bytes([type, 0x00, 0x00, 0x00, 0x08], '{"time":')), StreamProtocolError, `type ${type}, cut JSON`);
    assert.throws(() => new FrameParser().push(bytes([type, 0x00, 0x00, 0x00, 0x00])), StreamProtocolError, `type ${type}, empty payload`);
    assert.throws(() => new FrameParser().push(bytes([type, 0x00, 0x00, 0x00, 0x02, 0xff, 0xfe])), StreamProtocolError, `type ${type}, not UTF-8 text`);
  }
});
