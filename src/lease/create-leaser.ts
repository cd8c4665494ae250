import os from 'node:os';
import type { Config } from '../config/schema.ts';
import { ConsulLeaser } from './consul-leaser.ts';
import { EtcdLeaser } from './etcd-leaser.ts';
import type { Leaser } from './leaser.ts';
import { StaticLeaser } from './static-leaser.ts';

/** Builds the leaser the config names; the only place that asks which backend it is. */
export function createLeaser(config: Config, nodeId: string): Leaser {
  const l = config.lease;
  const hostname = l.hostname ?? os.hostname();
  const port = config.http.addr.slice(config.http.addr.lastIndexOf(':') + 1);
  const advertiseUrl = l['advertise-url'] ?? `http://${hostname}:${port}`;
  const self = { hostname, advertiseUrl, nodeId };
  switch (l.type) {
    case 'static':
      return new StaticLeaser({ hostname, advertiseUrl }, l.candidate, nodeId);
    case 'etcd':
      return new EtcdLeaser({ endpoints: l.etcd!.endpoints, key: l.etcd!.key, ttlMs: l.etcd!.ttl, self, candidate: l.candidate });
    case 'consul':
      return new ConsulLeaser({ url: l.consul!.url, key: l.consul!.key, ttlMs: l.consul!.ttl, lockDelayMs: l.consul!['lock-delay'], self, candidate: l.candidate });
  }
}
