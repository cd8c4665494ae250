import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { CLI, runCli, sleep } from '../helpers/node-process.ts';
import { runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

test('litefleet demo starts three nodes, replicates a write from the sqlite3 CLI, and stops on Ctrl-C', async () => {
  const root = makeTempDir();
  const proc = spawn(process.execPath, [CLI, 'demo', '--dir', root, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('Ctrl-C stops everything') && Date.now() < deadline && proc.exitCode === null) await sleep(100);
  assert.match(out, /node1\s+primary\s+API http:\/\/127\.0\.0\.1:\d+/, out);
  assert.match(out, /node3\s+replica/);
  const primaryDb = path.join(root, 'node1', 'live', 'sqlite.db');
  const replicaDb = path.join(root, 'node3', 'live', 'sqlite.db');
  await runSqliteCli(primaryDb, ".timeout 2000\nINSERT INTO notes(body) VALUES ('from the test');\n");
  let seen = '';
  for (let i = 0; i < 100 && !seen.includes('from the test'); i++) {
    await sleep(50);
    seen = await runSqliteCli(replicaDb, 'SELECT body FROM notes;\n', ['-readonly']).catch(() => '');
  }
  assert.match(seen, /hello from the primary\nfrom the test/);
  const status = await runCli(['status', '-c', path.join(root, 'node2', 'litefleet.yml')]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(status.stdout.match(/REPLICA/g)?.length, 2, status.stdout);

  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.match(out, /stopping the demo cluster/);
  const stopped = out.match(/litefleet node stopped/g)?.length ?? 0;
  assert.equal(stopped, 3, out);
});
