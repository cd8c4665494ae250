import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RowQuery } from './table-queries.ts';
import type { WireValue } from './wire-value.ts';
import { LitefleetError, TimeoutError } from '../errors.ts';

/** What the reader process is asked; `file` is a live database the caller has checked is one of the node's. */
export type ReadRequest = { id: number; file: string } & (
  | { op: 'tables' }
  | { op: 'table'; table: string }
  | { op: 'rows'; table: string; query: RowQuery }
  | { op: 'row'; table: string; key: WireValue[] }
  | { op: 'console'; sql: string }
);

/** The reader process's answer to one request. */
export type ReadReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; code: string; error: string };

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** A statement that runs longer than this is stopped (its process killed). */
export const STATEMENT_TIMEOUT_MS = 10_000;
const IDLE_EXIT_MS = 5 * 60_000;

// The built node forks the built reader; run from the sources (tests import them through tsx), the
// reader is TypeScript too and needs tsx's loader.
const fromSources = import.meta.url.endsWith('.ts');
const entry = fileURLToPath(new URL(fromSources ? './reader-process.ts' : './reader-process.js', import.meta.url));
const execArgv = fromSources ? ['--import', import.meta.resolve('tsx')] : [];

/**
 * Runs the studio's reads of live databases in a child process, never on the node's own thread:
 * better-sqlite3 cannot interrupt a statement, and a slow one there would stall capture, the
 * stream and the lease renewal. The child can be killed, which is what enforces the statement
 * time limit. It starts on first use and exits when idle.
 */
export class ReadRunner {
  #child: ChildProcess | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #idle: NodeJS.Timeout | undefined;

  /** Sends one request and resolves with its answer; an error comes back with its code. */
  run<T>(request: DistributiveOmit<ReadRequest, 'id'>, timeoutMs = STATEMENT_TIMEOUT_MS): Promise<T> {
    const child = this.#start();
    const id = this.#nextId++;
    clearTimeout(this.#idle);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.#stop(child, `the statement ran longer than ${timeoutMs / 1000} s, the studio's limit, and was stopped; run long queries with litefleet query`), timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      child.send({ ...request, id });
    });
  }

  /** Starts the reader process ahead of the first request (it takes a few hundred ms to load). */
  warm(): void {
    this.#start();
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.close(), IDLE_EXIT_MS).unref();
  }

  /** Ends the reader process (the next request starts another). */
  close(): void {
    if (this.#child) this.#stop(this.#child, 'the studio is closing');
  }

  #start(): ChildProcess {
    if (this.#child) return this.#child;
    const child = fork(entry, [], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    // The reader never keeps the node's process alive: it exits with its IPC channel.
    child.unref();
    child.channel?.unref();
    child.on('message', (reply: ReadReply) => {
      const p = this.#pending.get(reply.id);
      if (!p) return;
      this.#pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new LitefleetError(reply.code, reply.error));
      if (this.#pending.size === 0) this.#idle = setTimeout(() => this.close(), IDLE_EXIT_MS).unref();
    });
    child.on('exit', () => this.#stop(child, 'the studio\'s reader process ended unexpectedly'));
    this.#child = child;
    return child;
  }

  #stop(child: ChildProcess, why: string): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    child.kill('SIGKILL');
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new TimeoutError(why));
    }
    this.#pending.clear();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
