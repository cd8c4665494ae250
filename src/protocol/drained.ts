import type { Writable } from 'node:stream';

/**
 * Resolves once `out` takes writes again ('drain') or has closed: a response whose client went
 * away never drains, and a handler waiting for drain alone would hang with whatever it holds open
 * (a snapshot's read transaction keeps SQLite from ever checkpointing past it). Check
 * `out.destroyed` after it.
 */
export function drained(out: Writable): Promise<void> {
  if (out.destroyed || !out.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
  });
}
