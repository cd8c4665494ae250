import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { LitefleetError } from '../../errors.ts';
import { decodeHeader } from '../../ltx/header.ts';
import { ltxFilename } from '../../ltx/position.ts';
import { validateDatabaseName } from '../../store/names.ts';
import { ltxFilesAt } from '../../log/segment-files.ts';

/**
 * `litefleet ltx export [-c litefleet.yml] --db NAME [--from TXID] [--to TXID] -o DIR`: the log's
 * transactions as plain `<min>-<max>.ltx` files, which other LTX tools (LiteFS's `ltx`) read.
 * Reads the segment files as they are on disk (a running node keeps writing; what is torn at the
 * end is left out), never changing them.
 */
export function registerLtxExport(ltx: Command): void {
  ltx
    .command('export')
    .description("write a database's logged transactions as plain <min>-<max>.ltx files")
    .requiredOption('--db <name>', 'database name')
    .requiredOption('-o, --out <dir>', 'folder to write the files to (created if missing)')
    .option('--from <txid>', 'first TXID', '1')
    .option('--to <txid>', 'last TXID (default: the newest)')
    .option('-c, --config <path>', 'config file of the local node')
    .action((opts: { db: string; out: string; from: string; to?: string; config?: string }) => {
      const config = loadConfig(resolveConfigPath(opts.config));
      const name = validateDatabaseName(opts.db);
      const from = Number(opts.from);
      const to = opts.to === undefined ? Number.MAX_SAFE_INTEGER : Number(opts.to);
      if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || to < from) throw new LitefleetError('EUSAGE', `--from and --to must be TXIDs with from <= to (got ${opts.from}, ${opts.to ?? 'newest'})`);
      const logDir = path.join(config['data-dir'], 'dbs', name);
      if (!fs.existsSync(logDir)) throw new LitefleetError('ENODB', `no log for database ${name} in ${path.join(config['data-dir'], 'dbs')}`);
      fs.mkdirSync(opts.out, { recursive: true });
      let written = 0;
      let first = 0;
      let last = 0;
      for (const { bytes } of ltxFilesAt(logDir)) {
        const h = decodeHeader(bytes);
        if (h.maxTxid < from || h.minTxid > to) continue;
        fs.writeFileSync(path.join(opts.out, ltxFilename(h.minTxid, h.maxTxid)), bytes);
        first ||= h.minTxid;
        last = h.maxTxid;
        written++;
      }
      process.stdout.write(written ? `wrote ${written} LTX files (TXID ${first}-${last}) to ${opts.out}\n` : `the log of ${name} holds no transaction in that range\n`);
    });
}
