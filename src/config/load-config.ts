import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import * as v from 'valibot';
import { ConfigError } from '../errors.ts';
import { expandEnv } from './expand-env.ts';
import { configSchema, type Config } from './schema.ts';

/** Where `litefleet` looks for its config when `-c` is not given, in order. */
export const DEFAULT_CONFIG_PATHS = ['litefleet.yml', path.join(process.env.HOME ?? '~', 'litefleet.yml'), '/etc/litefleet.yml'];

/** Options for loadConfig. */
export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  expandEnv?: boolean;
}

/** Finds the config file: the given path, or the first default that exists. */
export function resolveConfigPath(given: string | undefined): string {
  if (given) {
    if (!fs.existsSync(given)) throw new ConfigError(`config file ${given} does not exist`);
    return given;
  }
  const found = DEFAULT_CONFIG_PATHS.find((p) => fs.existsSync(p));
  if (!found) throw new ConfigError(`no config file given (-c) and none found at ${DEFAULT_CONFIG_PATHS.join(', ')}`);
  return found;
}

/** Parses, expands and validates config text; errors name the file, line and key path. */
export function parseConfig(text: string, file = 'litefleet.yml', options: LoadConfigOptions = {}): Config {
  const source = options.expandEnv === false ? text : expandEnv(text, options.env ?? process.env);
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const { line, col } = lines.linePos(e.pos[0]);
    throw new ConfigError(`${file}:${line}:${col}: malformed YAML: ${e.message.split('\n')[0]}`);
  }
  const data: unknown = doc.toJS() ?? {};
  const parsed = v.safeParse(configSchema, data);
  if (parsed.success) return resolvePaths(parsed.output, path.dirname(path.resolve(file)));
  const messages = parsed.issues.map((issue) => describeIssue(issue, doc, lines, file));
  throw new ConfigError(messages.join('\n'));
}

/** Reads and validates a config file. */
export function loadConfig(file: string, options: LoadConfigOptions = {}): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  return Object.freeze(parseConfig(text, file, options)) as Config;
}

function describeIssue(issue: v.BaseIssue<unknown>, doc: ReturnType<typeof parseDocument>, lines: LineCounter, file: string): string {
  const keyPath = (issue.path ?? []).map((p) => String(p.key));
  const unknownKey = issue.type === 'strict_object' && issue.expected === 'never';
  const message = unknownKey ? `unknown key ${JSON.stringify(keyPath.at(-1))}` : issue.received === 'undefined' ? 'required key is missing' : plainMessage(issue);
  // Point at the deepest node that exists (a missing key is reported at its parent).
  let line = 0;
  for (let n = keyPath.length; n >= 0; n--) {
    const segs = keyPath.slice(0, n).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const node = n === 0 ? doc.contents : doc.getIn(segs, true);
    if (isNode(node) && node.range) {
      line = lines.linePos(node.range[0]).line;
      if (unknownKey) line = keyLine(doc, segs, lines) ?? line;
      break;
    }
  }
  const where = keyPath.length ? keyPath.join('.') : '(top level)';
  return `${file}:${line || 1}: ${where}: ${message}`;
}

/**
 * valibot's own messages ("Invalid type: Expected string but received 9000") in the words the
 * rest of the config's messages use; the schema's own messages are kept as they are.
 */
function plainMessage(issue: v.BaseIssue<unknown>): string {
  const own = /^Invalid (\w+): Expected (.+) but received .+$/.exec(issue.message);
  if (!own) return issue.message;
  const [, kind, expected] = own;
  const got = `got ${issue.input === null ? 'null' : Array.isArray(issue.input) ? 'a list' : typeof issue.input === 'object' ? 'a map' : `a ${typeof issue.input}`}`;
  if (kind !== 'type') return `expected ${kind} ${expected}, ${got} (${issue.received})`;
  if (expected!.startsWith('(')) return `expected one of ${expected!.slice(1, -1)}, got ${issue.received}`;
  return `expected ${{ Object: 'a map', Array: 'a list' }[expected!] ?? `a ${expected}`}, ${got}`;
}

/** The line of a key itself (for unknown keys the value node may be on the next line). */
function keyLine(doc: ReturnType<typeof parseDocument>, segs: Array<string | number>, lines: LineCounter): number | undefined {
  const parent = segs.length > 1 ? doc.getIn(segs.slice(0, -1), true) : doc.contents;
  const items = (parent as { items?: Array<{ key?: { value?: unknown; range?: [number, number, number] } }> } | null)?.items;
  const pair = items?.find((p) => p.key?.value === segs[segs.length - 1]);
  return pair?.key?.range ? lines.linePos(pair.key.range[0]).line : undefined;
}

/** Relative `dir` and `data-dir` are taken relative to the config file. */
function resolvePaths(c: Config, base: string): Config {
  return { ...c, dir: path.resolve(base, c.dir), 'data-dir': path.resolve(base, c['data-dir']) };
}
