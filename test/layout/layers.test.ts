import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * The folders of src/ from the bottom of the data path up: a module may import from its own
 * folder and from folders below it, never from one above (a folder not listed fails the test, so
 * a new one is placed here when it is made). Folders on one line are peers and import nothing
 * from each other.
 */
const LAYERS: string[][] = [
  ['types', 'errors.ts', 'logger.ts'],
  ['ltx', 'wal', 'config'],
  ['log', 'protocol'],
  ['sqlite', 'lease'],
  ['capture', 'apply'],
  ['store', 'migrations', 'litefs'],
  ['stream', 'backup', 'sql', 'client', 'proxy'],
  ['api'],
  ['ui'],
  ['node'],
  ['cli'],
];

function rankOf(folder: string): number {
  const rank = LAYERS.findIndex((layer) => layer.includes(folder));
  assert.ok(rank >= 0, `src/${folder} is in no layer of test/layout/layers.test.ts: place it there`);
  return rank;
}

/** Every .ts file under src/ with the src/ files its relative imports (static and dynamic) name. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        const text = fs.readFileSync(p, 'utf8');
        const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => path.resolve(path.dirname(p), m[1]!));
        graph.set(p, specs);
      }
    }
  };
  walk(SRC);
  return graph;
}

/** The top folder under src/ a file lives in (or the file's own name for src/errors.ts). */
function folderOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0]!;
}

test('imports follow the layers: no folder imports from one above it or beside it', () => {
  const wrong: string[] = [];
  for (const [file, imports] of importGraph()) {
    const from = folderOf(file);
    for (const target of imports) {
      const to = folderOf(target);
      if (to === from) continue;
      if (rankOf(to) >= rankOf(from)) wrong.push(`${path.relative(SRC, file)} imports ${path.relative(SRC, target)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no import cycles between modules', () => {
  const graph = importGraph();
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(SRC, f)).join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});
