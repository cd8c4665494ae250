import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// Clock ticks per second of /proc/<pid>/stat's CPU times (100 on Linux almost everywhere, but asked).
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** Resident set size of a process in MB, from /proc (what the kernel charges a VM's memory for it); NaN without one. */
export function rssMb(pid: number | undefined): number {
  return statusMb(pid, 'VmRSS');
}

/**
 * The anonymous part of a process's resident set in MB: its own memory (heaps, allocator, stacks),
 * without the pages of files it maps (the node binary's code, touched bit by bit as code paths run
 * for the first time, which the kernel can drop and read again).
 */
export function anonMb(pid: number | undefined): number {
  return statusMb(pid, 'RssAnon');
}

function statusMb(pid: number | undefined, field: string): number {
  if (!pid) return NaN;
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb === undefined ? NaN : Number(kb) / 1024;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * A neighbour on the box: one process spinning a core, as another tenant of a shared VM would;
 * runs until the returned function is called.
 */
export function startCpuBurner(): () => void {
  const burner = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  return () => burner.kill('SIGKILL');
}

/** What the timed writer reports. */
export interface WriterResult {
  commits: number;
  seconds: number;
  rate: number;
  commitMs: { p50: number; p99: number };
  /** Wall-clock time of each commit (ms), when paced. */
  times: number[];
}

/** Runs bench/lib/timed-writer.mjs: single-row INSERTs for `seconds`, flat out or at `rate` tx/s. */
export function runTimedWriter(db: string, seconds: number, rate = 0): Promise<WriterResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'timed-writer.mjs'), db, String(seconds), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as WriterResult) : reject(new Error(`writer exited with ${code}`))));
  });
}

/** Starts bench/lib/visibility-reader.mjs on a replica; `stop()` returns when each row id became visible. */
export function startVisibilityReader(db: string, firstId: number): { stop(): Promise<Map<number, number>> } {
  const child = spawn(process.execPath, [path.join(here, 'visibility-reader.mjs'), db, String(firstId)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const { seen } = JSON.parse(out) as { seen: Record<string, number> };
      return new Map(Object.entries(seen).map(([id, t]) => [Number(id), t]));
    },
  };
}

/**
 * Follows a node's GET /events and records when each TXID of `db` was announced (ms, wall clock):
 * how an app learns a commit is in the log. `stop()` ends it and returns the times.
 */
export function watchTxEvents(node: { url: string; token: string }, db: string): { stop(): Map<number, number> } {
  const seen = new Map<number, number>();
  const abort = new AbortController();
  void (async () => {
    try {
      const res = await fetch(`${node.url}/events`, { headers: { authorization: `Bearer ${node.token}` }, signal: abort.signal });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const now = performance.timeOrigin + performance.now();
        rest += decoder.decode(value, { stream: true });
        const lines = rest.split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          if (!line) continue;
          const ev = JSON.parse(line) as { type: string; db?: string; txid?: number };
          if (ev.type === 'tx' && ev.db === db && !seen.has(ev.txid!)) seen.set(ev.txid!, now);
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    stop() {
      abort.abort();
      return seen;
    },
  };
}
