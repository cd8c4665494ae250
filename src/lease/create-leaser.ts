import os from 'node:os';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { Leaser } from './leaser.ts';
import { StaticLeaser } from './static-leaser.ts';

/** Builds the leaser the config names; the only place that asks which backend it is. */
export function createLeaser(config: Config): Leaser {
  const l = config.lease;
  const hostname = l.hostname ?? os.hostname();
  const port = config.http.addr.slice(config.http.addr.lastIndexOf(':') + 1);
  const advertiseUrl = l['advertise-url'] ?? `http://${hostname}:${port}`;
  switch (l.type) {
    case 'static':
      return new StaticLeaser({ hostname, advertiseUrl }, l.candidate);
    default:
      throw new ConfigError(`lease.type ${l.type} is not available in this version of litefleet; use lease.type static`);
  }
}
