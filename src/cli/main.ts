import { Command } from 'commander';
import { outcomeOf } from './exit-codes.ts';
import { tuneAllocator } from '../node/allocator.ts';
import { VERSION } from './version.ts';
import { holdYoungGeneration } from './young-generation.ts';

type Register = (program: Command) => void;

const exportImport = async (): Promise<Register> => (await import('./commands/export-import.ts')).registerExportImport;

/**
 * Every command's module by the command's name, in the order help lists them. A call imports only
 * the module of the command it runs: together they load the node, the AWS SDK, etcd's gRPC client
 * and more, a second of start-up that `litefleet status --json` in a health check loop would pay
 * every time.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  init: async () => (await import('./commands/init.ts')).registerInit,
  run: async () => (await import('./commands/run.ts')).registerRun,
  status: async () => (await import('./commands/status.ts')).registerStatus,
  handoff: async () => (await import('./commands/handoff.ts')).registerHandoff,
  exec: async () => (await import('./commands/exec.ts')).registerExec,
  query: async () => (await import('./commands/query.ts')).registerQuery,
  shell: async () => (await import('./commands/shell.ts')).registerShell,
  dump: async () => (await import('./commands/dump.ts')).registerDump,
  backup: async () => (await import('./commands/backup.ts')).registerBackup,
  restore: async () => (await import('./commands/restore.ts')).registerRestore,
  export: exportImport,
  import: exportImport,
  ltx: async () => (await import('./commands/ltx.ts')).registerLtx,
  migrations: async () => (await import('./commands/migrations.ts')).registerMigrations,
  demo: async () => (await import('./commands/demo.ts')).registerDemo,
  studio: async () => (await import('./commands/studio.ts')).registerStudio,
};

/**
 * The modules to load for `args`: the named command's; none for `--version` alone; every one when
 * commander may print the whole help (no command, `help`, an unknown name it suggests another for).
 */
function modulesFor(args: string[]): Array<() => Promise<Register>> {
  // The program itself takes no option with a value, so the first word is the command's name.
  const name = args.find((a) => !a.startsWith('-'));
  if (name !== undefined && Object.hasOwn(COMMANDS, name)) return [COMMANDS[name]!];
  if (name === undefined && args.length > 0 && args.every((a) => a === '-V' || a === '--version')) return [];
  return [...new Set(Object.values(COMMANDS))];
}

const program = new Command('litefleet')
  .description('Replicate SQLite databases across machines: one primary, many read-only replicas.')
  .version(VERSION)
  .showHelpAfterError();

// Before the node's modules load: loading them alone grows the young generation to 2 × 8 MB (and
// a process about to start over with other allocator settings loads nothing).
const args = process.argv.slice(2);
if (args.find((a) => !a.startsWith('-')) === 'run') {
  tuneAllocator();
  holdYoungGeneration();
}

try {
  for (const register of await Promise.all(modulesFor(args).map((load) => load()))) register(program);
  await program.parseAsync(process.argv);
} catch (err) {
  const { exit, message } = outcomeOf(err);
  process.stderr.write(`litefleet: ${message}\n`);
  process.exitCode = exit;
}
