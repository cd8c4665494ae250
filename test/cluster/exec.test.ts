import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startEtcd } from '../helpers/etcd.ts';
import { startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const etcd = await startEtcd();

/** Waits until `file` exists and is not empty (a missing file is polled again); resolves with its text. */
function waitForFile(file: string, timeoutMs = 20_000): Promise<string> {
  return waitFor(() => fs.readFileSync(file, 'utf8') || undefined, timeoutMs, `${file} to appear`, 25);
}

test('exec: the if-candidate migration runs exactly once, on the primary, before its app; apps get role, primary and paths; signals reach the app and its exit stops the node', async () => {
  const shared = makeTempDir('litefleet-exec-');
  const ran = path.join(shared, 'migrations-ran');
  const appOut = (i: number) => path.join(shared, `app${i + 1}.json`);
  const c = await startLeaseCluster({
    size: 3,
    backend: { type: 'etcd', url: etcd.url },
    extraConfig: (i) =>
      [
        'exec:',
        `  - cmd: "node ${path.join(fixtures, 'migrate.mjs')} ${ran}"`,
        '    if-candidate: true',
        `  - "node ${path.join(fixtures, 'app.mjs')} ${appOut(i)}"`,
      ].join('\n'),
    // Node 3 names its app on the command line, which replaces the config's last command.
    args: (i) => (i === 2 ? ['--', process.execPath, path.join(fixtures, 'app.mjs'), `${appOut(i)}.from-args`] : []),
  });
  const primary = await waitForPrimary(c.nodes);
  const envs = await Promise.all(c.nodes.map((_, i) => waitForFile(i === 2 ? `${appOut(i)}.from-args` : appOut(i)).then((t) => JSON.parse(t) as { pid: number; env: Record<string, string> })));
  assert.ok(!fs.existsSync(appOut(2)), 'the config\'s app was replaced by the one after --');

  const lines = fs.readFileSync(ran, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1, `the migration ran ${lines.length} times: ${lines.join(' | ')}`);
  assert.equal(lines[0], `primary ${primary.root}`);
  for (const [i, n] of c.nodes.entries()) {
    const { env } = envs[i]!;
    const isPrimary = n === primary;
    assert.equal(env.LITEFLEET_ROLE, isPrimary ? 'primary' : 'replica');
    assert.equal(env.LITEFLEET_PRIMARY, `node${c.nodes.indexOf(primary) + 1}`);
    assert.equal(env.LITEFLEET_DIR, n.dir);
  }
  // The primary's app started after its migration: the database was there, named in its environment.
  assert.equal(envs[c.nodes.indexOf(primary)]!.env.LITEFLEET_DATABASES, path.join(primary.dir, 'app.db'));

  // SIGTERM to a replica's node reaches its app; the app's exit stops the node cleanly.
  const replica = c.nodes.find((n) => n !== primary)!;
  const r = c.nodes.indexOf(replica);
  assert.equal(await replica.stop(), 0);
  assert.equal(fs.readFileSync(`${r === 2 ? `${appOut(r)}.from-args` : appOut(r)}.signal`, 'utf8'), 'SIGTERM');

  // The app exiting on its own stops its node too (the primary hands off first).
  const p = c.nodes.indexOf(primary);
  process.kill(envs[p]!.pid, 'SIGINT');
  await waitFor(() => !primary.running, 15_000, 'the node to stop when its app exited', 25);
  assert.match(primary.output, /the app exited with code 0/);
  assert.match(primary.output, /handoff done/);
  await waitForPrimary(c.nodes.filter((n) => n !== primary && n !== replica));
});
