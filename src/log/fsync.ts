import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Flushes a directory's entries (new names, renames) to disk. */
export function fsyncDir(dir: string): void {
  fsyncPath(dir, false);
}

/** Flushes a file's data to disk; a file deleted or moved meanwhile is fine (it was pruned or set aside). */
export function fsyncFile(file: string): void {
  try {
    fsyncPath(file, true);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function fsyncPath(p: string, dataOnly: boolean): void {
  const fd = fs.openSync(p, 'r');
  try {
    if (dataOnly) fs.fdatasyncSync(fd);
    else fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes every buffer at `position` onwards, in as few calls as the kernel allows. */
export function writeAll(fd: number, bufs: readonly Uint8Array[], position: number): void {
  let pending = [...bufs];
  let pos = position;
  while (pending.length > 0) {
    const batch = pending.slice(0, 1024);
    let n = fs.writevSync(fd, batch, pos);
    pos += n;
    let consumed = 0;
    while (consumed < batch.length && n >= batch[consumed]!.length) n -= batch[consumed++]!.length;
    pending = pending.slice(consumed);
    if (n > 0) pending[0] = pending[0]!.subarray(n);
  }
}

/** Replaces `file` with `data` atomically and durably: tmp file, fsync, rename, fsync of the folder. */
export function writeFileDurable(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}


/** Flushes a file's data (or a directory's entries, with `dataOnly` false) without blocking the thread; a file deleted meanwhile is fine. */
export async function fsyncFileAsync(file: string, dataOnly = true): Promise<void> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await (dataOnly ? fh.datasync() : fh.sync());
  } finally {
    await fh.close();
  }
}

/** writeFileDurable without blocking the thread. */
export async function writeFileDurableAsync(file: string, data: string): Promise<void> {
  // Its own tmp name: a synchronous writeFileDurable of the same file may run meanwhile.
  const tmp = `${file}.async.tmp`;
  await writeFileSyncedAsync(tmp, data);
  await fs.promises.rename(tmp, file);
  await fsyncFileAsync(path.dirname(file), false);
}

/** Creates (or truncates) `file` with `data` and flushes its data to disk, without blocking the thread. */
export async function writeFileSyncedAsync(file: string, data: string | Uint8Array): Promise<void> {
  const fh = await fs.promises.open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/**
 * Flushes everything written to the filesystem holding `dir`, with one syncfs(2) through GNU
 * coreutils' `sync -f` (Node has no binding for it). Rejects where that is unavailable; callers
 * then fsync file by file.
 */
export function syncFilesystem(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', dir], { timeout: 60_000 }, (err) => (err ? reject(err) : resolve()));
  });
}

/** syncFilesystem, blocking; false where `sync -f` is unavailable or failed. */
export function syncFilesystemSync(dir: string): boolean {
  return spawnSync('sync', ['-f', dir], { timeout: 60_000 }).status === 0;
}
