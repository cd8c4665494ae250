import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import Database from 'better-sqlite3';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { LitefleetError } from '../../errors.ts';
import type { NodeInfo } from '../../protocol/api-types.ts';
import { NodeClient } from '../../protocol/node-client.ts';
import { progressBar } from '../progress.ts';

/**
 * `litefleet export --db NAME out.db`: a consistent copy from the local node (any node) through
 * its API; `litefleet import --db NAME in.db`: checks the file, sends it to the primary, which
 * replaces the database with it as one transaction replicated everywhere (the state before stays
 * restorable).
 */
export function registerExportImport(program: Command): void {
  program
    .command('export')
    .description('write a consistent copy of a database from this node')
    .argument('<out>', 'the file to write (must not exist)')
    .requiredOption('--db <name>', 'database name')
    .option('-c, --config <path>', 'config file of the local node')
    .option('--url <url>', 'node API URL (instead of the config\'s http.addr)')
    .action(async (out: string, opts: { db: string; config?: string; url?: string }) => {
      if (fs.existsSync(out)) throw new LitefleetError('EEXIST', `${out} exists; export writes a new file and never overwrites one`);
      const config = loadConfig(resolveConfigPath(opts.config));
      const client = NodeClient.fromOptions(config, opts.url);
      const res = await client.request(`/db/${encodeURIComponent(opts.db)}/export`);
      const total = Number(res.headers['content-length'] ?? 0);
      const tmp = `${out}.exporting`;
      const fd = fs.openSync(tmp, 'w');
      const bar = progressBar('exporting');
      bar.start(total, 0);
      let done = 0;
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          fs.writeSync(fd, chunk);
          done += chunk.length;
          bar.update(done);
        }
        if (done !== total) throw new LitefleetError('ENODE', `the node sent ${done} of ${total} bytes; nothing was written`);
        fs.fdatasyncSync(fd);
      } catch (err) {
        fs.closeSync(fd);
        fs.rmSync(tmp, { force: true });
        throw err;
      } finally {
        bar.stop();
      }
      fs.closeSync(fd);
      fs.renameSync(tmp, out);
      process.stdout.write(`exported ${opts.db} at TXID ${String(res.headers['litefleet-txid'])} (${total} bytes) to ${out}\n`);
    });

  program
    .command('import')
    .description('replace a database on the live cluster with a file (checked first; one transaction)')
    .argument('<in>', 'the SQLite database file to import')
    .requiredOption('--db <name>', 'database name')
    .option('-c, --config <path>', 'config file of a node of the cluster')
    .option('--url <url>', 'node API URL (instead of the config\'s http.addr)')
    .action(async (input: string, opts: { db: string; config?: string; url?: string }) => {
      const config = loadConfig(resolveConfigPath(opts.config));
      const res = await importIntoCluster(NodeClient.fromOptions(config, opts.url), config.http.token ?? process.env.LITEFLEET_TOKEN ?? '', opts.db, input);
      process.stdout.write(`imported ${path.basename(input)} into ${opts.db} as TXID ${res.txid}${res.created ? ' (a new database)' : ''}; the state before it stays restorable\n`);
    });
}

/**
 * Checks `input` (refused before anything is sent if it is not a sound database), sends it to the
 * primary (found through the local node), and waits until the local node has the result.
 */
export async function importIntoCluster(local: NodeClient, token: string, db: string, input: string): Promise<{ txid: number; created: boolean }> {
  let image: Buffer;
  try {
    const src = new Database(input, { readonly: true, fileMustExist: true });
    const ok = src.pragma('integrity_check', { simple: true });
    if (ok !== 'ok') throw new Error(`integrity_check: ${String(ok)}`);
    image = src.serialize();
    src.close();
  } catch (err) {
    throw new LitefleetError('EBADDB', `${input} is not a sound SQLite database (${(err as Error).message}); nothing was changed`);
  }
  const info = await local.getJson<NodeInfo>('/info');
  const primary = info.node.role === 'primary' ? local : new NodeClient(info.nodes.find((n) => n.role === 'primary')?.url ?? '', token);
  if (!primary.baseUrl) throw new LitefleetError('ENOPRIMARY', 'no primary is known; nothing was changed');
  const bar = progressBar('importing');
  bar.start(image.length, 0);
  const res = await primary.postBytes<{ txid: number; created: boolean }>(`/db/${encodeURIComponent(db)}/import`, image).finally(() => {
    bar.update(image.length);
    bar.stop();
  });
  await local.waitForTxid(db, res.txid, 60_000);
  return res;
}
