import type { S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { NoSuchObjectError, ObjectExistsError, type BackupObject, type BackupTarget } from './backup-target.ts';

/** Settings of an S3 target (from `backup:`; unset ones come from the usual AWS_* environment variables). */
export interface S3TargetOptions {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** The AWS SDK's S3 module and a client made with it. */
interface Sdk {
  s3: typeof import('@aws-sdk/client-s3');
  client: S3Client;
}

function status({ s3 }: Sdk, err: unknown): number | undefined {
  return err instanceof s3.S3ServiceException ? err.$metadata.httpStatusCode : undefined;
}

/**
 * Backups in S3 or an S3-compatible store (`s3://bucket/prefix`; MinIO, Tigris, R2 with an
 * endpoint and path-style addressing). Writes are conditional (`If-None-Match: *`), and a HEAD
 * first catches an existing key on stores that ignore the condition.
 */
export class S3Target implements BackupTarget {
  readonly url: string;
  readonly #o: S3TargetOptions;
  #sdk: Promise<Sdk> | undefined;

  constructor(o: S3TargetOptions) {
    this.#o = { ...o, prefix: o.prefix.replace(/^\/+|\/+$/g, '') };
    this.url = `s3://${o.bucket}${this.#o.prefix ? `/${this.#o.prefix}` : ''}`;
  }

  /**
   * The SDK, imported on first use: it takes 0.2–0.4 s and over 20 MB to load, which a node or a
   * CLI call that never touches S3 should not pay (createBackupTarget builds this class for any
   * s3:// config, the CLI's too).
   */
  #connect(): Promise<Sdk> {
    const o = this.#o;
    this.#sdk ??= import('@aws-sdk/client-s3').then((s3) => ({
      s3,
      client: new s3.S3Client({
        region: o.region ?? process.env.AWS_REGION ?? 'us-east-1',
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        forcePathStyle: o.forcePathStyle ?? false,
        ...(o.accessKeyId && o.secretAccessKey ? { credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } } : {}),
      }),
    }));
    return this.#sdk;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const sdk = await this.#connect();
    const Key = this.#key(key);
    if (await this.#exists(Key)) throw new ObjectExistsError(this.url, key);
    try {
      await sdk.client.send(new sdk.s3.PutObjectCommand({ Bucket: this.#o.bucket, Key, Body: body, IfNoneMatch: '*' }));
    } catch (err) {
      if (status(sdk, err) === 412) throw new ObjectExistsError(this.url, key);
      throw err;
    }
  }

  get(key: string): Promise<Buffer> {
    return this.#get(key);
  }

  async *stream(key: string): AsyncIterable<Uint8Array> {
    const sdk = await this.#connect();
    let res;
    try {
      res = await sdk.client.send(new sdk.s3.GetObjectCommand({ Bucket: this.#o.bucket, Key: this.#key(key) }));
    } catch (err) {
      if (status(sdk, err) === 404) throw new NoSuchObjectError(this.url, key);
      throw err;
    }
    yield* res.Body as Readable;
  }

  head(key: string, length: number): Promise<Buffer> {
    return this.#get(key, `bytes=0-${length - 1}`);
  }

  async #get(key: string, Range?: string): Promise<Buffer> {
    const sdk = await this.#connect();
    try {
      const res = await sdk.client.send(new sdk.s3.GetObjectCommand({ Bucket: this.#o.bucket, Key: this.#key(key), Range }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (status(sdk, err) === 404) throw new NoSuchObjectError(this.url, key);
      throw err;
    }
  }

  async list(prefix: string): Promise<BackupObject[]> {
    const { s3, client } = await this.#connect();
    const out: BackupObject[] = [];
    let token: string | undefined;
    const strip = this.#o.prefix ? this.#o.prefix.length + 1 : 0;
    do {
      const res = await client.send(new s3.ListObjectsV2Command({ Bucket: this.#o.bucket, Prefix: this.#key(prefix), ContinuationToken: token }));
      for (const o of res.Contents ?? []) if (o.Key) out.push({ key: o.Key.slice(strip), size: o.Size ?? 0 });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: string[]): Promise<void> {
    const { s3, client } = await this.#connect();
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((k) => ({ Key: this.#key(k) }));
      await client.send(new s3.DeleteObjectsCommand({ Bucket: this.#o.bucket, Delete: { Objects: batch, Quiet: true } }));
    }
  }

  async #exists(Key: string): Promise<boolean> {
    const sdk = await this.#connect();
    try {
      await sdk.client.send(new sdk.s3.HeadObjectCommand({ Bucket: this.#o.bucket, Key }));
      return true;
    } catch (err) {
      if (status(sdk, err) === 404) return false;
      throw err;
    }
  }

  #key(key: string): string {
    return this.#o.prefix ? `${this.#o.prefix}/${key}` : key;
  }
}
