import fs from 'node:fs';
import type { Command } from 'commander';
import { LitefleetError } from '../../errors.ts';
import { convertLitefsConfig } from '../../litefs/from-litefs.ts';

/** `litefleet init --from-litefs litefs.yml [-o litefleet.yml]`: writes the equivalent config and says what did not carry over. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a litefleet.yml equivalent to a LiteFS config')
    .requiredOption('--from-litefs <path>', 'the litefs.yml to convert')
    .option('-o, --output <path>', 'where to write the litefleet config', 'litefleet.yml')
    .option('--force', 'overwrite the output file if it exists')
    .action((opts: { fromLitefs: string; output: string; force?: boolean }) => {
      let text: string;
      try {
        text = fs.readFileSync(opts.fromLitefs, 'utf8');
      } catch (err) {
        throw new LitefleetError('EUSAGE', `cannot read ${opts.fromLitefs}: ${(err as Error).message}`);
      }
      const { yaml, notes } = convertLitefsConfig(text, opts.fromLitefs);
      if (fs.existsSync(opts.output) && !opts.force) throw new LitefleetError('EUSAGE', `${opts.output} exists; pass --force to overwrite it`);
      fs.writeFileSync(opts.output, yaml);
      const lines = [`wrote ${opts.output} from ${opts.fromLitefs}`];
      if (notes.length > 0) lines.push('', 'not carried over as it was, and why:', ...notes.map((n) => `  ${n.key}: ${n.why}`));
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
