import S3rver from 's3rver';
import { makeTempDir } from './temp-dir.ts';

/** A real S3-protocol server (s3rver) on a free loopback port with one bucket; stopped when the test file ends. */
export async function startS3(bucket = 'backups'): Promise<{ endpoint: string; bucket: string }> {
  const holder: { server?: S3rver } = {};
  const directory = makeTempDir('litefleet-s3-', async () => void (await holder.server?.close()));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: bucket }] });
  holder.server = server;
  const addr = await server.run();
  return { endpoint: `http://127.0.0.1:${addr.port}`, bucket };
}

/** The `backup:` lines for that server (s3rver takes the S3RVER/S3RVER key pair). */
export function s3BackupConfig(s3: { endpoint: string; bucket: string }, prefix: string): string {
  return ['backup:', `  url: "s3://${s3.bucket}/${prefix}"`, `  endpoint: "${s3.endpoint}"`, '  region: us-east-1', '  force-path-style: true', '  access-key-id: S3RVER', '  secret-access-key: S3RVER'].join('\n');
}
