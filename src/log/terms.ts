import fs from 'node:fs';
import { LtxFormatError } from '../errors.ts';
import { writeFileDurable } from './fsync.ts';

/**
 * The primary terms a log's history passed through: [first TXID, term], oldest first, kept
 * durably in the log's `terms` file. A term is the lease's number when a primary took it (it grows
 * with every election and handoff), so of two histories that differ, the one written under the
 * higher term is the newer.
 */
export class PrimaryTerms {
  readonly #file: string;
  #terms: Array<[number, number]> = [];

  constructor(file: string) {
    this.#file = file;
  }

  /** The records, oldest first. */
  get records(): ReadonlyArray<readonly [number, number]> {
    return this.#terms;
  }

  /** Reads the records back from the file (at recovery); none when it is missing or unreadable. */
  load(): void {
    try {
      this.#terms = parseTerms(JSON.parse(fs.readFileSync(this.#file, 'utf8')));
    } catch {
      this.#terms = [];
    }
  }

  /** The term the transaction `txid` was written under (0 when unknown: older than any record). */
  termAt(txid: number): number {
    return termAt(this.#terms, txid);
  }

  /** Records that transactions from `firstTxid` on are written under `term` (durably, before they are). */
  note(firstTxid: number, term: number): void {
    if (this.termAt(firstTxid) === term) return;
    this.#set([...this.#terms.filter(([first]) => first < firstTxid), [firstTxid, term]]);
  }

  /**
   * Takes the primary's record of terms (authoritative for the history both share), keeping this
   * log's older records from before it.
   */
  merge(theirs: ReadonlyArray<readonly [number, number]>): void {
    if (theirs.length === 0) return;
    const merged: Array<[number, number]> = [...this.#terms.filter(([first]) => first < theirs[0]![0]), ...theirs.map(([f, t]): [number, number] => [f, t])];
    if (JSON.stringify(merged) !== JSON.stringify(this.#terms)) this.#set(merged);
  }

  /** Forgets the terms of transactions after `txid` (they left the log). */
  dropAfter(txid: number): void {
    if (this.#terms.some(([first]) => first > txid)) this.#set(this.#terms.filter(([first]) => first <= txid));
  }

  #set(terms: Array<[number, number]>): void {
    this.#terms = terms;
    writeFileDurable(this.#file, `${JSON.stringify(terms)}\n`);
  }
}

/** The term the transaction `txid` was written under in the history `terms` describe (0 when older than any record). */
export function termAt(terms: ReadonlyArray<readonly [number, number]>, txid: number): number {
  let term = 0;
  for (const [first, t] of terms) {
    if (first > txid) break;
    term = t;
  }
  return term;
}

/** True when `terms` show term `term` reaching over `txid`: that transaction is in the history they describe. */
export function coveredBy(terms: ReadonlyArray<readonly [number, number]>, term: number, txid: number): boolean {
  const i = terms.findIndex(([, t]) => t === term);
  if (term === 0 || i < 0) return false;
  const end = i + 1 < terms.length ? terms[i + 1]![0] - 1 : Infinity;
  return terms[i]![0] <= txid && txid <= end;
}

/** A terms record read from disk or the wire: [[first TXID, term], …], ascending; anything else is refused. */
export function parseTerms(v: unknown): Array<[number, number]> {
  if (!Array.isArray(v)) throw new LtxFormatError('terms must be a list');
  let last = 0;
  return v.map((e) => {
    if (!Array.isArray(e) || e.length !== 2 || !Number.isSafeInteger(e[0]) || !Number.isSafeInteger(e[1]) || e[0] < 1 || e[1] < 0 || e[0] <= last) {
      throw new LtxFormatError(`malformed terms entry ${JSON.stringify(e)}`);
    }
    last = e[0] as number;
    return [e[0] as number, e[1] as number];
  });
}
