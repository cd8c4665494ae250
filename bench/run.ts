// `npm run bench [-- name...]`: runs the named benchmarks (all but the soak, the scale run and the profile by default) in fresh folders.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchBackup } from './backup.ts';
import { benchCapture } from './capture.ts';
import { benchFailover } from './failover.ts';
import { benchFootprint } from './footprint.ts';
import { benchProfile } from './profile.ts';
import { benchProxy } from './proxy.ts';
import { benchReplication } from './replication.ts';
import { benchScale } from './scale.ts';
import { benchSoak } from './soak.ts';
import { benchStudio } from './studio.ts';

const benches: Record<string, (root: string) => Promise<void>> = { capture: benchCapture, replication: benchReplication, failover: benchFailover, proxy: benchProxy, backup: benchBackup, studio: benchStudio, footprint: benchFootprint, scale: benchScale, profile: benchProfile, soak: benchSoak };
// The soak and the scale runs take many minutes, and the profile measures under a profiler: only when named.
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(benches).filter((n) => !['soak', 'scale', 'profile'].includes(n));
for (const name of names) {
  const bench = benches[name];
  if (!bench) {
    console.error(`unknown benchmark ${name}; there are: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `litefleet-bench-${name}-`));
  try {
    await bench(root);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
