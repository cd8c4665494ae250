import fs from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { Store } from './store.ts';

/** The store a node's config describes (its folders are folders, or do not exist yet). */
export function storeFromConfig(config: Config, nodeId: bigint, logger: Logger): Store {
  for (const [key, dir] of [['dir', config.dir], ['data-dir', config['data-dir']]] as const) {
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new ConfigError(`${key} ${dir} is not a directory`);
  }
  return new Store({
    dir: config.dir,
    dataDir: config['data-dir'],
    nodeId,
    logger,
    resetFrames: config.capture['reset-frames'],
    pollIntervalMs: config.capture['poll-interval'],
    retentionMs: config.ltx.retention,
    retentionIntervalMs: config.ltx['retention-interval'],
    compress: config.ltx.compress,
    // A segment is closed after a quarter of the retention (0.1 s to a minute), so retention
    // removes whole segments close to when their transactions age out.
    segmentAgeMs: Math.min(60_000, Math.max(100, config.ltx.retention / 4)),
  });
}
