import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { startConsulDouble } from '../helpers/consul-double.ts';
import { startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { runCli, type NodeProcess } from '../helpers/node-process.ts';
import { databaseChecksum, runSqliteCli } from '../helpers/sqlite.ts';
import { waitFor } from '../helpers/wait.ts';

async function sameEverywhere(nodes: NodeProcess[], timeoutMs = 20_000): Promise<void> {
  let sums: bigint[] = [];
  await waitFor(
    () => {
      sums = nodes.map((n) => {
        try {
          return databaseChecksum(path.join(n.dir, 'app.db')).checksum;
        } catch {
          return -1n;
        }
      });
      return sums.every((s) => s === sums[0] && s !== -1n);
    },
    timeoutMs,
    () => `the databases to agree (checksums: ${sums.join(' ')})`,
    50,
  );
}

test('Consul lease (against the HTTP API double): election, handoff, and failover once the dead primary\'s session is gone', async () => {
  const consul = await startConsulDouble();
  const c = await startLeaseCluster({ size: 3, backend: { type: 'consul', url: consul.url } });
  const first = await waitForPrimary(c.nodes);
  await runSqliteCli(path.join(first.dir, 'app.db'), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(v); INSERT INTO t VALUES (1);');
  await sameEverywhere(c.nodes);
  const out = await runCli(['handoff', '-c', first.configPath]);
  assert.match(out.stdout, /primary is now/, `handoff exited ${out.code}: ${out.stderr}\n${first.output}`);
  const second = await waitForPrimary(c.nodes, 5_000, first);
  await runSqliteCli(path.join(second.dir, 'app.db'), '.timeout 5000\nINSERT INTO t VALUES (2);');
  await sameEverywhere(c.nodes);

  // A crash: the session would expire after its 10 s TTL; the double expires it now. The others wait
  // out the 1 s lock delay, then one takes over.
  await second.kill();
  consul.expireAll();
  const third = await waitForPrimary(c.nodes.filter((n) => n !== second), 10_000);
  await runSqliteCli(path.join(third.dir, 'app.db'), '.timeout 5000\nINSERT INTO t VALUES (3);');
  await second.restart();
  await sameEverywhere(c.nodes);
  assert.equal(await second.role(), 'replica');
});
