import { LitefleetError } from '../errors.ts';

/** One stored object of a backup target. */
export interface BackupObject {
  /** Path below the target's root, `/`-separated. */
  key: string;
  size: number;
}

/**
 * Where backups go: a directory or an S3-compatible bucket. Objects are written once and never
 * overwritten (put fails with ObjectExistsError), which is what keeps two primaries, or a
 * restored cluster, from corrupting each other's chains.
 */
export interface BackupTarget {
  /** A human-readable name (`file:///…`, `s3://bucket/prefix`) for messages. */
  readonly url: string;
  /** Stores `body` under `key` unless the key exists (then ObjectExistsError). Durable when it resolves. */
  put(key: string, body: Uint8Array): Promise<void>;
  /** The whole object; NoSuchObjectError when it is not there. */
  get(key: string): Promise<Buffer>;
  /** The object in pieces as they arrive, for large ones; NoSuchObjectError when it is not there. */
  stream(key: string): AsyncIterable<Uint8Array>;
  /** The first `length` bytes of an object (a header), without reading the rest. */
  head(key: string, length: number): Promise<Buffer>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<BackupObject[]>;
  delete(keys: string[]): Promise<void>;
}

export class ObjectExistsError extends LitefleetError {
  constructor(url: string, key: string) {
    super('EEXIST', `${url}/${key} exists already; backup objects are never overwritten`);
  }
}

export class NoSuchObjectError extends LitefleetError {
  constructor(url: string, key: string) {
    super('ENOENT', `${url}/${key} does not exist`);
  }
}
