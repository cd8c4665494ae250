import { SingleBar } from 'cli-progress';

/** The byte progress bar of export, import and restore, on stderr (stdout carries the result). */
export function progressBar(what: string): SingleBar {
  return new SingleBar({ format: `${what} {bar} {percentage}% | {value}/{total} bytes`, stream: process.stderr, hideCursor: true });
}
