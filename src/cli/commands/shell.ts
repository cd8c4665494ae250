import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type Database from 'better-sqlite3';
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { isComplete, isReadOnly, splitStatements } from '../../sql/statements.ts';
import { openLocalDatabase } from '../local-database.ts';
import { NodeClient } from '../../protocol/node-client.ts';
import { formatRows } from '../table.ts';
import { execOnCluster } from './exec.ts';

const HISTORY_FILE = path.join(os.homedir(), '.litefleet_history');
const HELP = `.tables            list tables and views
.schema [TABLE]    show CREATE statements
.timer on|off      show how long each statement takes
.quit              leave (also .exit, Ctrl-D)
Reads run on this node's copy; every other statement goes to the primary as one transaction.
`;

/** `litefleet shell --db NAME`: an interactive SQL shell on the live cluster. */
export function registerShell(program: Command): void {
  program
    .command('shell')
    .description('interactive SQL shell: reads are local, writes go to the primary')
    .requiredOption('--db <name>', 'database name (its file name in dir)')
    .option('-c, --config <path>', 'config file of the local node')
    .option('--url <url>', 'node API URL (instead of the config\'s http.addr)')
    .action(async (opts: { db: string; config?: string; url?: string }) => {
      const config = loadConfig(resolveConfigPath(opts.config));
      const client = NodeClient.fromOptions(config, opts.url);
      const db = openLocalDatabase(config, opts.db);
      const out = (s: string) => process.stdout.write(s);
      let history: string[] = [];
      try {
        history = fs.readFileSync(HISTORY_FILE, 'utf8').split('\n').filter(Boolean).reverse();
      } catch {
        // no history yet
      }
      const prompt = `${opts.db}> `;
      const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt, history, historySize: 1000, terminal: process.stdin.isTTY });
      rl.on('history', (h: string[]) => {
        try {
          fs.writeFileSync(HISTORY_FILE, `${[...h].reverse().join('\n')}\n`);
        } catch {
          // a read-only home: no history, no harm
        }
      });
      out(`litefleet shell on ${opts.db}: reads are local, writes go to the primary. ".help" for help.\n`);
      let timer = false;
      let buffer = '';
      rl.prompt();
      for await (const line of rl) {
        if (buffer === '' && line.trim().startsWith('.')) {
          const [cmd, arg] = line.trim().split(/\s+/);
          if (cmd === '.quit' || cmd === '.exit') break;
          if (cmd === '.timer' && (arg === 'on' || arg === 'off')) timer = arg === 'on';
          else out(dotCommand(db, cmd!, arg));
          rl.setPrompt(prompt);
          rl.prompt();
          continue;
        }
        buffer += `${line}\n`;
        if (!isComplete(buffer)) {
          rl.setPrompt('   ...> ');
          rl.prompt();
          continue;
        }
        const statements = splitStatements(buffer);
        buffer = '';
        for (const stmt of statements) {
          const started = performance.now();
          try {
            if (isReadOnly(stmt)) {
              const prepared = db.prepare(stmt);
              out(formatRows(prepared.columns().map((c) => c.name), prepared.all() as Array<Record<string, unknown>>));
            } else {
              const res = await execOnCluster(client, opts.db, stmt);
              out(`committed on the primary as TXID ${res.txid} (${res.changes} rows changed)\n`);
            }
          } catch (err) {
            out(`Error: ${(err as Error).message}\n`);
          }
          if (timer) out(`Run Time: ${(performance.now() - started).toFixed(3)} ms\n`);
        }
        rl.setPrompt(prompt);
        rl.prompt();
      }
      rl.close();
      db.close();
    });
}

function dotCommand(db: Database.Database, cmd: string, arg: string | undefined): string {
  switch (cmd) {
    case '.help':
      return HELP;
    case '.tables': {
      const names = db.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY 1").pluck().all() as string[];
      return names.length ? `${names.join('  ')}\n` : '';
    }
    case '.schema': {
      const rows = (arg
        ? db.prepare("SELECT sql FROM sqlite_schema WHERE sql NOT NULL AND tbl_name = ? ORDER BY rowid").pluck().all(arg)
        : db.prepare("SELECT sql FROM sqlite_schema WHERE sql NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid").pluck().all()) as string[];
      return rows.map((s) => `${s};\n`).join('');
    }
    default:
      return `Error: unknown command or invalid arguments: "${cmd}${arg ? ` ${arg}` : ''}". Enter ".help" for help\n`;
  }
}
