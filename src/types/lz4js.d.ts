// lz4js ships no types; these are the calls litefleet uses (LZ4 frame format).
declare module 'lz4js' {
  export function compress(src: Uint8Array): Uint8Array;
  /** Decompresses into a buffer of `maxSize` bytes (default: decompressBound); bytes past it are dropped. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
  const lz4: { compress: typeof compress; decompress: typeof decompress };
  export default lz4;
}
