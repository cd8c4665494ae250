import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** Log settings from the config's `log` section. */
export interface LogOptions {
  level: string;
  format: 'text' | 'json';
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** One line a record: time, level, message, then key=value pairs (the `text` format). */
function textLine(record: Record<string, unknown>): string {
  const fields = Object.entries(record)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => {
      if (k === 'err' && v && typeof v === 'object') return `err=${JSON.stringify((v as { message?: string }).message)}`;
      return `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`;
    });
  const time = new Date(Number(record.time)).toISOString();
  return `${time} ${(LEVELS[Number(record.level)] ?? 'INFO').padEnd(5)} ${String(record.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
}

/** Creates the node's logger, writing to stderr so commands can keep stdout for their output. */
export function createLogger(options: LogOptions = { level: 'info', format: 'text' }): Logger {
  if (options.format === 'json') return pino({ level: options.level, base: undefined }, pino.destination(2));
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) process.stderr.write(textLine(JSON.parse(line) as Record<string, unknown>));
      }
      cb();
    },
  });
  return pino({ level: options.level, base: undefined }, out);
}
