import path from 'node:path';
import type { Command } from 'commander';
import { checkMigrations, type MigrationCheckReport } from '../../migrations/check-migrations.ts';
import { readMigrationFolder } from '../../migrations/migration-folder.ts';

/** `litefleet migrations check [DIR] [--since NAME] [--json]`: exits 1 when a migration narrows the schema. */
export function registerMigrations(program: Command): void {
  const migrations = program.command('migrations').description('work with the app\'s schema migrations');
  migrations
    .command('check')
    .description('find migrations that break the version of the app still running during a deploy (exit 1)')
    .argument('[dir]', 'a Prisma, Drizzle or plain .sql migrations folder (default: prisma/migrations, drizzle, migrations)')
    .option('--since <name>', 'check this migration and every later one (default: the newest only)')
    .option('--json', 'print the report as JSON')
    .action((dir: string | undefined, opts: { since?: string; json?: boolean }) => {
      const report = checkMigrations(readMigrationFolder(dir), { since: opts.since });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      if (report.changes.some((c) => !c.allowed)) process.exitCode = 1;
    });
}

function formatReport(r: MigrationCheckReport): string {
  const lines = [`${path.relative(process.cwd(), r.dir) || '.'}: ${r.migrations.length} ${r.format} migration${r.migrations.length === 1 ? '' : 's'}; checked ${r.checked.join(', ')}`];
  for (const c of r.changes) {
    lines.push('', `${c.allowed ? 'allowed' : 'NARROWING'}  ${c.migration}: ${c.object} ${c.change}`);
    lines.push(`  breaks the version still running: ${c.breaks}`);
    if (c.allowed) {
      lines.push('  marked `-- litefleet: allow-narrowing`: deploy it only once no running version uses what it removes');
    } else {
      lines.push('  instead, widen then narrow, each step its own deploy:');
      c.instead.forEach((step, i) => lines.push(`    ${i + 1}. ${step}`));
    }
  }
  const failing = r.changes.filter((c) => !c.allowed).length;
  lines.push('', failing === 0 ? `no narrowing changes${r.changes.length ? ` (${r.changes.length} allowed)` : ''}` : `${failing} narrowing change${failing === 1 ? '' : 's'}: the old version breaks while this deploys`);
  return `${lines.join('\n')}\n`;
}
