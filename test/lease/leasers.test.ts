import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConsulLeaser } from '../../src/lease/consul-leaser.ts';
import { EtcdLeaser } from '../../src/lease/etcd-leaser.ts';
import { LeaseExpiredError, PrimaryExistsError, type Leaser } from '../../src/lease/leaser.ts';
import { startConsulDouble } from '../helpers/consul-double.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { waitFor } from '../helpers/wait.ts';

const self = (n: number) => ({ hostname: `host${n}`, advertiseUrl: `http://127.0.0.1:${20200 + n}`, nodeId: `00000000000000A${n}` });

interface Backend {
  name: string;
  make(n: number, candidate?: boolean): Leaser;
  /** Makes the held lease run out (until `watcher` sees the key gone after a short TTL, or by expiring the Consul sessions). */
  expire(watcher: Leaser): Promise<void>;
  /** How long a lost lease keeps the key from being taken again. */
  lockDelayMs: number;
}

async function etcdBackend(): Promise<Backend> {
  const etcd = await startEtcd();
  const key = `litefleet-test/${Date.now()}`;
  return {
    name: 'etcd',
    make: (n, candidate = true) => new EtcdLeaser({ endpoints: [etcd.url], key, ttlMs: 2_000, self: self(n), candidate }),
    expire: async (watcher) => {
      await waitFor(async () => (await watcher.primaryInfo()) === undefined, 10_000, 'etcd to drop the key of the unrenewed 2 s lease', 100);
    },
    lockDelayMs: 0,
  };
}

async function consulBackend(): Promise<Backend> {
  const consul = await startConsulDouble();
  const key = `litefleet-test/${Date.now()}`;
  return {
    name: 'consul',
    make: (n, candidate = true) => new ConsulLeaser({ url: consul.url, key, ttlMs: 10_000, lockDelayMs: 1_000, self: self(n), candidate }),
    expire: async () => consul.expireAll(),
    lockDelayMs: 1_000,
  };
}

for (const make of [etcdBackend, consulBackend]) {
  describe(`lease backend: ${make === etcdBackend ? 'etcd (real etcd-server)' : 'Consul (HTTP API double)'}`, () => {
    test('one holder at a time; the value names the primary; handoff goes only to its target; expiry frees the key', async () => {
      const b = await make();
      const [l1, l2, l3] = [b.make(1), b.make(2), b.make(3)];
      try {
        assert.equal(await l1.primaryInfo(), undefined);
        const lease1 = await l1.acquire();
        await assert.rejects(l2.acquire(), PrimaryExistsError);
        assert.deepEqual(await l3.primaryInfo(), self(1));
        await lease1.renew();
        assert.ok(Date.now() - lease1.renewedAt < 1_000);

        // Handoff: the mark lets only node 2 take the lease.
        await lease1.handoff(self(2).nodeId);
        assert.deepEqual(await l3.primaryInfo(), { ...self(1), handoffTo: self(2).nodeId }, 'while it is handed over, the lease names the primary handing it (replicas keep following its stream)');
        await assert.rejects(l3.acquire(), PrimaryExistsError);
        const lease2 = await l2.acquire();
        assert.deepEqual(await l1.primaryInfo(), self(2));
        await lease1.close();
        assert.deepEqual(await l3.primaryInfo(), self(2), 'closing the handed-off lease leaves the new holder alone');

        // Node 2 stops renewing: the key goes, its renew fails, another candidate takes it.
        await b.expire(l3);
        await assert.rejects(lease2.renew(), LeaseExpiredError);
        assert.equal(await l3.primaryInfo(), undefined);
        if (b.lockDelayMs) await assert.rejects(l3.acquire(), PrimaryExistsError, 'lock delay');
        const lease3 = await waitFor(() => l3.acquire(), b.lockDelayMs + 5_000, 'the key to be free to take (after any lock delay)', 100);
        assert.equal((await l1.primaryInfo())?.hostname, 'host3');
        // Closing releases it at once.
        await lease3.close();
        assert.equal(await l1.primaryInfo(), undefined);
        const again = await l1.acquire();
        await again.close();
      } finally {
        for (const l of [l1, l2, l3]) await l.close();
      }
    });

    test('the epoch moves with every taking of the lease, handed or not, and outlives it: a taker that read it before another node led and let go is refused', async () => {
      const b = await make();
      const [l1, l2, l3] = [b.make(1), b.make(2), b.make(3)];
      try {
        const before = await l1.epoch();
        // Node 2 leads and gives the lease up while node 1 is in its election round.
        const lease2 = await l2.acquire(await l2.epoch());
        const led = await l1.epoch();
        assert.ok(led > before, `the epoch moved when node 2 took the lease (${before} -> ${led})`);
        await lease2.close();
        assert.equal(await l1.primaryInfo(), undefined, 'the lease is free');
        assert.equal(await l1.epoch(), led, 'the epoch stays when the lease is given up');
        await assert.rejects(l1.acquire(before), PrimaryExistsError);
        assert.equal(await l3.primaryInfo(), undefined, 'the refused taker holds nothing');

        // Read after node 2 led: node 1 takes it, and hands it to node 3, which moves the epoch too.
        const lease1 = await l1.acquire(await l1.epoch());
        assert.deepEqual(await l3.primaryInfo(), self(1));
        const held = await l3.epoch();
        await lease1.handoff(self(3).nodeId);
        const lease3 = await l3.acquire();
        assert.ok((await l2.epoch()) > held, 'a handed-over lease moves the epoch');
        await lease1.close();
        await lease3.close();
      } finally {
        for (const l of [l1, l2, l3]) await l.close();
      }
    });

    test('a cancelled handoff gives the lease back to its holder', async () => {
      const b = await make();
      const [l1, l2] = [b.make(1), b.make(2)];
      try {
        const lease = await l1.acquire();
        await lease.handoff(self(2).nodeId);
        await lease.handoff(undefined);
        assert.deepEqual(await l2.primaryInfo(), self(1));
        await assert.rejects(l2.acquire(), PrimaryExistsError);
        await lease.renew();
        await lease.close();
      } finally {
        await l1.close();
        await l2.close();
      }
    });
  });
}

test('Consul: a primary that dies mid-handoff is named, with its target, for one TTL; then no node is', async () => {
  const consul = await startConsulDouble();
  const key = `litefleet-test/${Date.now()}`;
  const holder = new ConsulLeaser({ url: consul.url, key, ttlMs: 10_000, lockDelayMs: 1_000, self: self(1), candidate: true });
  // Only reads: a TTL shorter than Consul's 10 s minimum is fine for a node that never takes the lease.
  const watcher = new ConsulLeaser({ url: consul.url, key, ttlMs: 300, lockDelayMs: 1_000, self: self(3), candidate: false });
  const lease = await holder.acquire();
  await lease.handoff(self(2).nodeId);
  assert.deepEqual(await watcher.primaryInfo(), { ...self(1), handoffTo: self(2).nodeId });
  await waitFor(async () => (await watcher.primaryInfo()) === undefined, 5_000, 'the handoff mark to be one TTL old', 50);
});
