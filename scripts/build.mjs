#!/usr/bin/env node
// Compiles src/ to plain JavaScript with type declarations in dist/ (what the CLI, the node and the
// package's exports run), and copies beside it the files the code reads at run time. npm ci runs it
// (prepare). With --if-stale it first checks whether anything under src/ or a tsconfig changed
// since the last build, so tests and benches that spawn the CLI can call it every time for free.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
// Written last: its time is when dist/ last matched the sources.
const stamp = path.join(dist, '.built');
// Read by src/ui/assets.ts at run time: the studio's page, bundled on first request.
const ASSETS = ['ui/assets'];

function newestSourceMs() {
  let newest = 0;
  const visit = (p) => {
    const st = fs.statSync(p);
    newest = Math.max(newest, st.mtimeMs);
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  for (const p of ['src', 'tsconfig.json', 'tsconfig.build.json']) visit(path.join(root, p));
  return newest;
}

if (process.argv.includes('--if-stale') && fs.existsSync(stamp) && fs.statSync(stamp).mtimeMs >= newestSourceMs()) process.exit(0);

// A source saved while this build runs must make the next --if-stale build again.
const started = new Date();
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('litefleet: compiling src/ to dist/ failed (see above)');
  process.exit(1);
}
for (const dir of ASSETS) {
  fs.rmSync(path.join(dist, dir), { recursive: true, force: true });
  fs.cpSync(path.join(root, 'src', dir), path.join(dist, dir), { recursive: true });
}
fs.writeFileSync(stamp, `${started.toISOString()}\n`);
fs.utimesSync(stamp, started, started);
