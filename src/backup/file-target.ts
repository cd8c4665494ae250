import fs from 'node:fs';
import path from 'node:path';
import { fsyncFileAsync, writeFileSyncedAsync } from '../log/fsync.ts';
import { NoSuchObjectError, ObjectExistsError, type BackupObject, type BackupTarget } from './backup-target.ts';

const STREAM_CHUNK = 4 * 1024 * 1024;

/** Backups in a directory (`file:///path`): each object a file, written to a temporary name, fsynced and linked into place. */
export class FileTarget implements BackupTarget {
  readonly url: string;
  readonly #root: string;

  constructor(root: string) {
    this.#root = path.resolve(root);
    this.url = `file://${this.#root}`;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const file = this.#path(key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFileSyncedAsync(tmp, body);
    try {
      // link() fails when the name exists: no overwrite, even against another writer.
      await fs.promises.link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ObjectExistsError(this.url, key);
      throw err;
    } finally {
      await fs.promises.rm(tmp, { force: true });
    }
    // The primary ships from its main thread, beside capture: no blocking fsync here.
    await fsyncFileAsync(path.dirname(file), false);
  }

  async get(key: string): Promise<Buffer> {
    const fh = await this.#open(key);
    try {
      // Read in as few calls as the kernel allows: readFile's 512 KB steps, each a trip through
      // the thread pool, made a restore's reading 1.7 times slower.
      const buf = Buffer.allocUnsafe((await fh.stat()).size);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return buf.subarray(0, off);
    } finally {
      await fh.close();
    }
  }

  async *stream(key: string): AsyncIterable<Uint8Array> {
    const fh = await this.#open(key);
    // Read ahead by the stream (in the thread pool) while the caller works on the last piece.
    yield* fh.createReadStream({ highWaterMark: STREAM_CHUNK });
  }

  async head(key: string, length: number): Promise<Buffer> {
    const fh = await this.#open(key);
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async list(prefix: string): Promise<BackupObject[]> {
    const out: BackupObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile() && !e.name.endsWith('.tmp')) {
          const key = path.relative(this.#root, full).split(path.sep).join('/');
          if (key.startsWith(prefix)) out.push({ key, size: (await fs.promises.stat(full)).size });
        }
      }
    };
    // Start from the deepest folder the prefix names.
    await walk(path.join(this.#root, ...prefix.split('/').slice(0, -1)));
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) await fs.promises.rm(this.#path(key), { force: true });
  }

  async #open(key: string): Promise<fs.promises.FileHandle> {
    try {
      return await fs.promises.open(this.#path(key), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NoSuchObjectError(this.url, key);
      throw err;
    }
  }

  #path(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) throw new Error(`invalid backup key ${key}`);
    return path.join(this.#root, ...key.split('/'));
  }
}
