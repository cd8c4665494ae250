import type { Command } from 'commander';
import { LitefleetError } from '../../errors.ts';
import { ltxFilesAt } from '../../log/segment-files.ts';
import { formatHex64, pageChecksum } from '../../ltx/checksum.ts';
import { decodeLtx, decodeTrailer } from '../../ltx/decoder.ts';
import { decodeHeader, isSnapshot } from '../../ltx/header.ts';
import { formatPos, type Pos } from '../../ltx/position.ts';
import { formatTable } from '../table.ts';
import { registerLtxExport } from './ltx-export.ts';

function time(ms: number): string {
  return new Date(ms).toISOString();
}

/** `litefleet ltx ls|verify|dump|export`: inspect LTX files and logs on disk. */
export function registerLtx(program: Command): void {
  const ltx = program.command('ltx').description('inspect LTX files and logs');

  ltx
    .command('ls <path>')
    .description('list LTX files (a file, a folder of them, a log segment, or a log folder such as <data-dir>/dbs/<name>)')
    .action((target: string) => {
      const rows = ltxFilesAt(target).map(({ label, bytes }) => {
        const h = decodeHeader(bytes);
        const t = decodeTrailer(bytes);
        return [label, String(h.minTxid), String(h.maxTxid), String(h.commit), String(h.pageSize), String(bytes.length), time(h.timestamp), formatHex64(h.preApplyChecksum), formatHex64(t.postApplyChecksum)];
      });
      process.stdout.write(formatTable(['FILE', 'MIN_TXID', 'MAX_TXID', 'COMMIT', 'PAGE_SIZE', 'SIZE', 'TIMESTAMP', 'PRE_APPLY', 'POST_APPLY'], rows));
    });

  ltx
    .command('verify <path>')
    .description('check every rule and checksum of LTX files; for a folder or a log also that each file continues the one before')
    .action((target: string) => {
      let failures = 0;
      let passed = 0;
      let pos: Pos | undefined;
      const report = (label: string, err?: string) => {
        if (err) failures++;
        else passed++;
        process.stdout.write(err ? `FAIL  ${label}: ${err}\n` : `ok    ${label}\n`);
      };
      const files = ltxFilesAt(target, (label, bytes) => report(label, `truncated: ${bytes} bytes at the end are no whole LTX file`));
      for (const { label, bytes } of files) {
        try {
          const f = decodeLtx(bytes);
          const h = f.header;
          if (pos && !isSnapshot(h) && (h.minTxid !== pos.txid + 1 || h.preApplyChecksum !== pos.checksum)) {
            throw new LitefleetError('ECHAIN', `does not continue the previous file (position ${formatPos(pos)}, this file starts at TXID ${h.minTxid} with ${formatHex64(h.preApplyChecksum)})`);
          }
          pos = { txid: h.maxTxid, checksum: f.trailer.postApplyChecksum };
          report(label);
        } catch (err) {
          pos = undefined;
          report(label, (err as Error).message);
        }
      }
      process.stdout.write(`${passed} passed, ${failures} failed\n`);
      if (failures > 0) process.exitCode = 1;
    });

  ltx
    .command('dump <path>')
    .description('print the header, every page with its checksum, and the trailer of one LTX file (of a segment: the one holding --txid, else its first)')
    .option('--txid <n>', 'in a segment or log folder, the file holding this TXID')
    .action((target: string, opts: { txid?: string }) => {
      const files = ltxFilesAt(target);
      const want = opts.txid === undefined ? undefined : Number(opts.txid);
      const found = want === undefined ? files[0] : files.find((f) => {
        const h = decodeHeader(f.bytes);
        return h.minTxid <= want && want <= h.maxTxid;
      });
      if (!found) throw new LitefleetError('ENOENT', want === undefined ? `${target} holds no LTX file` : `${target} holds no LTX file with TXID ${want}`);
      const f = decodeLtx(found.bytes);
      const h = f.header;
      const out = [
        `file:               ${found.label}`,
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

  registerLtxExport(ltx);
}
