import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { BackupTarget } from './backup-target.ts';
import { FileTarget } from './file-target.ts';
import { S3Target } from './s3-target.ts';

/** The target `backup.url` names: `file:///path` or `s3://bucket/prefix`; the only place that asks which. */
export function createBackupTarget(backup: NonNullable<Config['backup']>): BackupTarget {
  const url = new URL(backup.url);
  switch (url.protocol) {
    case 'file:':
      return new FileTarget(fileURLToPath(url));
    case 's3:':
      return new S3Target({
        bucket: url.hostname,
        prefix: decodeURIComponent(url.pathname),
        endpoint: backup.endpoint,
        region: backup.region,
        forcePathStyle: backup['force-path-style'],
        accessKeyId: backup['access-key-id'],
        secretAccessKey: backup['secret-access-key'],
      });
    default:
      throw new ConfigError(`backup.url ${backup.url}: use file:///path or s3://bucket/prefix`);
  }
}
