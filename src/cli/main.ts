import { Command } from 'commander';
import { outcomeOf } from './exit-codes.ts';
import { registerBackup } from './commands/backup.ts';
import { registerDemo } from './commands/demo.ts';
import { registerRestore } from './commands/restore.ts';
import { registerDump } from './commands/dump.ts';
import { registerExportImport } from './commands/export-import.ts';
import { registerExec } from './commands/exec.ts';
import { registerQuery } from './commands/query.ts';
import { registerShell } from './commands/shell.ts';
import { registerHandoff } from './commands/handoff.ts';
import { registerInit } from './commands/init.ts';
import { registerLtx } from './commands/ltx.ts';
import { registerMigrations } from './commands/migrations.ts';
import { registerRun } from './commands/run.ts';
import { registerStatus } from './commands/status.ts';
import { registerStudio } from './commands/studio.ts';

const program = new Command('litefleet')
  .description('Replicate SQLite databases across machines: one primary, many read-only replicas.')
  .version('0.1.0')
  .showHelpAfterError();

registerInit(program);
registerRun(program);
registerStatus(program);
registerHandoff(program);
registerExec(program);
registerQuery(program);
registerShell(program);
registerDump(program);
registerBackup(program);
registerRestore(program);
registerExportImport(program);
registerLtx(program);
registerMigrations(program);
registerDemo(program);
registerStudio(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const { exit, message } = outcomeOf(err);
  process.stderr.write(`litefleet: ${message}\n`);
  process.exitCode = exit;
}
