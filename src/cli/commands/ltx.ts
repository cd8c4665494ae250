import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { LitefleetError } from '../../errors.ts';
import { formatHex64, pageChecksum } from '../../ltx/checksum.ts';
import { decodeLtx, decodeTrailer } from '../../ltx/decoder.ts';
import { decodeHeader, isSnapshot } from '../../ltx/header.ts';
import { formatPos, parseLtxFilename, type Pos } from '../../ltx/position.ts';
import { formatTable } from '../table.ts';

/** The LTX files a path names: the file itself, or a folder's `*.ltx` files in TXID order. */
function ltxFiles(target: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch {
    throw new LitefleetError('ENOENT', `${target} does not exist`);
  }
  if (!st.isDirectory()) return [target];
  return fs
    .readdirSync(target)
    .map((name) => ({ name, r: parseLtxFilename(name) }))
    .filter((f) => f.r)
    .sort((a, b) => a.r!.maxTxid - b.r!.maxTxid || b.r!.minTxid - a.r!.minTxid)
    .map((f) => path.join(target, f.name));
}

function time(ms: number): string {
  return new Date(ms).toISOString();
}

/** `litefleet ltx ls|verify|dump`: inspect LTX files on disk. */
export function registerLtx(program: Command): void {
  const ltx = program.command('ltx').description('inspect LTX files');

  ltx
    .command('ls <path>')
    .description('list LTX files (a file or a folder such as <data-dir>/dbs/<name>/ltx)')
    .action((target: string) => {
      const rows = ltxFiles(target).map((file) => {
        const buf = fs.readFileSync(file);
        const h = decodeHeader(buf);
        const t = decodeTrailer(buf);
        return [
          path.basename(file),
          String(h.minTxid),
          String(h.maxTxid),
          String(h.commit),
          String(h.pageSize),
          String(buf.length),
          time(h.timestamp),
          formatHex64(h.preApplyChecksum),
          formatHex64(t.postApplyChecksum),
        ];
      });
      process.stdout.write(formatTable(['FILE', 'MIN_TXID', 'MAX_TXID', 'COMMIT', 'PAGE_SIZE', 'SIZE', 'TIMESTAMP', 'PRE_APPLY', 'POST_APPLY'], rows));
    });

  ltx
    .command('verify <path>')
    .description('check every rule and checksum of LTX files; for a folder also that each file continues the one before')
    .action((target: string) => {
      let failures = 0;
      let pos: Pos | undefined;
      const files = ltxFiles(target);
      for (const file of files) {
        try {
          const f = decodeLtx(fs.readFileSync(file));
          const h = f.header;
          if (pos && !isSnapshot(h) && (h.minTxid !== pos.txid + 1 || h.preApplyChecksum !== pos.checksum)) {
            throw new LitefleetError('ECHAIN', `does not continue the previous file (position ${formatPos(pos)}, this file starts at TXID ${h.minTxid} with ${formatHex64(h.preApplyChecksum)})`);
          }
          pos = { txid: h.maxTxid, checksum: f.trailer.postApplyChecksum };
          process.stdout.write(`ok    ${path.basename(file)}\n`);
        } catch (err) {
          failures++;
          pos = undefined;
          process.stdout.write(`FAIL  ${path.basename(file)}: ${(err as Error).message}\n`);
        }
      }
      process.stdout.write(`${files.length - failures} passed, ${failures} failed\n`);
      if (failures > 0) process.exitCode = 1;
    });

  ltx
    .command('dump <file>')
    .description('print the header, every page with its checksum, and the trailer of one LTX file')
    .action((file: string) => {
      const f = decodeLtx(fs.readFileSync(file));
      const h = f.header;
      const out = [
        `file:               ${file}`,
        `flags:              0x${h.flags.toString(16)}${h.flags & 1 ? ' (lz4)' : ''}`,
        `page size:          ${h.pageSize}`,
        `commit:             ${h.commit} pages`,
        `txids:              ${h.minTxid}-${h.maxTxid}${isSnapshot(h) ? ' (snapshot)' : ''}`,
        `timestamp:          ${time(h.timestamp)}`,
        `pre-apply checksum: ${formatHex64(h.preApplyChecksum)}`,
        `wal:                offset ${h.walOffset} size ${h.walSize} salts ${h.walSalt1.toString(16)}/${h.walSalt2.toString(16)}`,
        `node id:            ${h.nodeId.toString(16).toUpperCase().padStart(16, '0')}`,
        `pages:              ${f.pages.length}`,
        ...f.pages.map((p) => `  page ${String(p.pgno).padStart(8)}  ${formatHex64(pageChecksum(p.pgno, p.data))}`),
        `post-apply checksum: ${formatHex64(f.trailer.postApplyChecksum)}`,
        `file checksum:       ${formatHex64(f.trailer.fileChecksum)}`,
      ];
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
