import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startConsulDouble } from '../helpers/consul-double.ts';
import { FlyNetwork, type FlyMachine } from '../helpers/fly-machines.ts';
import { sleep } from '../helpers/node-process.ts';
import { runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KIT = path.join(repo, 'examples/fly/litefleet.yml');

async function answers(m: FlyMachine, urlPath: string): Promise<boolean> {
  return fetch(`${m.url(8080)}${urlPath}`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
}

test("the Fly kit as Fly runs it: three machines with Fly's environment, a Consul lease, migrations on the primary, fly-replay naming it, a machine outside the primary region never leading", async () => {
  assert.equal(process.getuid?.(), 0, 'this test makes network and mount namespaces: run it as root (CI does)');
  const net = new FlyNetwork(makeTempDir('litefleet-fly-'), 'epic-test');
  const consul = await startConsulDouble(net.hostAddress);
  const [m1, m2, m3] = [net.machine(1, 'sjc'), net.machine(2, 'sjc'), net.machine(3, 'ams')];
  // What the Dockerfile, fly.toml and the secrets set; Fly sets FLY_* itself (FlyMachine does here).
  const env = {
    LITEFS_DIR: '/data/db',
    DATABASE_FILENAME: 'sqlite.db',
    DATABASE_URL: 'file:/data/db/sqlite.db',
    INTERNAL_PORT: '8080',
    PORT: '8081',
    PRIMARY_REGION: 'sjc',
    FLY_CONSUL_URL: `${consul.url}/`,
    LITEFLEET_TOKEN: 'fly-test-token-0123456789',
    SESSION_SECRET: 'fly-test-session-secret',
  };
  // The kit unchanged; its last exec step, npm start, starts the example app.
  const start = (m: FlyMachine) => m.start({ config: KIT, args: [], cwd: path.join(repo, 'examples/epic-app'), env });
  const everyLog = () => net.machines.map((m) => `--- ${m.id} (${m.region})\n${m.output.slice(-3000)}`).join('\n');

  // m3's role is sampled every 50 ms the whole time: a machine outside the primary region must never lead.
  const m3Roles = new Set<string>();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      m3Roles.add((await m3.role()) ?? 'down');
      await sleep(50);
    }
  })();
  try {
    await start(m1);
    await waitFor(() => answers(m1, '/resources/healthcheck'), 120_000, () => `m1's app to come up\n${everyLog()}`, 100);
    assert.equal(await m1.role(), 'primary');
    assert.match(m1.output, /checked 20260101000000_init\n\nno narrowing changes[\s\S]*All migrations have been successfully applied[\s\S]*starting the app/);

    // m2 comes up in the primary region as a deploy's new machine does: caught up, it takes the
    // lease over (promote) and runs the migrations as the primary, finding nothing left to apply.
    await start(m2);
    await waitFor(async () => (await m2.role()) === 'primary' && (await answers(m2, '/resources/healthcheck')), 120_000, () => `m2 to take over\n${everyLog()}`, 100);
    assert.match(m2.output, /took the primary lease why="the primary handed the lease to this node"[\s\S]*No pending migrations to apply[\s\S]*starting the app cmd="npm start" role=primary/);
    await start(m3);
    await waitFor(() => answers(m3, '/resources/healthcheck'), 60_000, () => `m3's app to come up\n${everyLog()}`, 100);
    assert.match(m3.output, /not the primary: skipping if-candidate command cmd="npx prisma migrate deploy"/);
    assert.equal(await runSqliteCli(path.join(m3.volume, 'db', 'sqlite.db'), '.timeout 5000\nSELECT migration_name FROM _prisma_migrations;\n', ['-readonly']), '20260101000000_init\n');

    // Fly's health checks (fly.toml) pass on every machine.
    for (const m of net.machines) {
      assert.ok(await answers(m, '/litefleet/health'), `${m.id} /litefleet/health`);
      assert.ok(await answers(m, '/resources/healthcheck'), `${m.id} app health`);
    }

    // A write on a replica is answered with fly-replay naming the primary machine, for Fly's edge to replay.
    for (const replica of [m1, m3]) {
      const write = await fetch(`${replica.url(8080)}/notes`, { method: 'POST', body: 'title=x&content=y', headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
      assert.equal(write.status, 200);
      assert.equal(write.headers.get('fly-replay'), `instance=${m2.id}`);
      assert.equal(write.headers.get('fly-instance'), replica.id);
      assert.equal(write.headers.get('fly-primary-instance'), m2.id);
    }
    const read = await fetch(m3.url(8080));
    assert.equal(read.headers.get('fly-primary-instance'), m2.id);
    assert.match(await read.text(), new RegExp(`Answered by <b data-testid="instance">${m3.id}</b> \\(replica\\) · primary: <b data-testid="primary">${m2.id}</b>`));

    // Fly stops m2 (kill_signal SIGINT): its app stops, and it hands the lease to m1, the other machine
    // in the primary region. (npm re-raises the SIGINT its script died of: 128 + 2, passed on.)
    assert.equal(await m2.stop('SIGINT'), 130, m2.output.slice(-3000));
    assert.match(m2.output, /handoff done[\s\S]*litefleet node stopped/);
    await waitFor(async () => (await m1.role()) === 'primary', 20_000, () => `m1 to take over\n${everyLog()}`, 100);
    const replay = await fetch(`${m3.url(8080)}/notes`, { method: 'POST', body: '', redirect: 'manual' });
    assert.equal(replay.headers.get('fly-replay'), `instance=${m1.id}`);

    // m1 crashes and its session is gone: the lease is free, and m3 still does not take it.
    await m1.stop('SIGKILL');
    consul.expireAll();
    const free = Date.now();
    const noPrimary = await fetch(`${m3.url(8080)}/notes`, { method: 'POST', body: '', redirect: 'manual' });
    assert.equal(noPrimary.status, 503, await noPrimary.text());
    assert.ok(Date.now() - free >= 4_000, 'the proxy waited for a primary before giving up');
    assert.equal(await m3.role(), 'replica');
  } finally {
    sampling = false;
    await sampler;
  }
  assert.deepEqual([...m3Roles].filter((r) => r !== 'down'), ['replica'], `m3 was: ${[...m3Roles].join(', ')}`);
});
