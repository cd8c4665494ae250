import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Logger } from 'pino';
import { parse } from 'shell-quote';
import { ConfigError } from '../errors.ts';
import { withoutNodeAllocator } from './allocator.ts';
import type { LitefleetNode } from './litefleet-node.ts';

/** One command to run once the node is ready: a string (split with shell-word rules) or an argv. */
export interface ExecCommand {
  cmd: string | string[];
  /** Run only on the node that is primary (migrations). */
  'if-candidate': boolean;
}

/** Splits a command as a shell would split words, without running a shell (as LiteFS does). */
export function splitCommand(cmd: string): string[] {
  const words = parse(cmd, (name) => process.env[name] ?? '');
  return words.map((w) => {
    if (typeof w !== 'string') throw new ConfigError(`exec command ${JSON.stringify(cmd)} uses shell syntax (${JSON.stringify(w)}); run it through "sh -c '…'" instead`);
    return w;
  });
}

/**
 * Runs `commands` once the node is ready (primary: lease held; replica: caught up): all but the
 * last in order, each having to succeed; `if-candidate` ones only on the primary. The last is the
 * app: it gets the node's role, the primary and the database paths in its environment, and
 * SIGINT/SIGTERM; resolves with its exit code.
 */
export async function runExec(node: LitefleetNode, commands: ExecCommand[], logger: Logger, onAppStart?: () => void): Promise<number> {
  await node.ready();
  let code = 0;
  for (const [i, c] of commands.entries()) {
    const argv = typeof c.cmd === 'string' ? splitCommand(c.cmd) : c.cmd;
    const last = i === commands.length - 1;
    if (c['if-candidate'] && node.role !== 'primary') {
      logger.info({ cmd: argv.join(' ') }, 'not the primary: skipping if-candidate command');
      continue;
    }
    const info = await node.info();
    const env = {
      ...withoutNodeAllocator(process.env),
      LITEFLEET_ROLE: node.role,
      LITEFLEET_PRIMARY: info.node.role === 'primary' ? info.node.hostname : (info.node.primary ?? ''),
      LITEFLEET_DIR: path.resolve(node.config.dir),
      // For litefleet/client: where the node's API is (the token comes from LITEFLEET_TOKEN).
      LITEFLEET_URL: `http://127.0.0.1:${node.port}`,
      LITEFLEET_DATABASES: info.databases.map((d) => path.resolve(node.config.dir, d.name)).join(path.delimiter),
    };
    logger.info({ cmd: argv.join(' '), role: node.role }, last ? 'starting the app' : 'running command');
    const running = run(argv, env, last);
    if (last) onAppStart?.();
    code = await running;
    if (code !== 0 && !last) throw new Error(`command ${JSON.stringify(argv.join(' '))} exited with code ${code}`);
  }
  return code;
}

function run(argv: string[], env: NodeJS.ProcessEnv, forwardSignals: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    // The app gets a process group of its own and signals go to all of it, as a terminal's Ctrl-C
    // does: `npm start` runs the app under `sh -c`, which passes no signal on, so the app never
    // heard a stop sent to npm alone.
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env, detached: forwardSignals });
    const forward = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // the group is gone: the app has exited
      }
    };
    if (forwardSignals) {
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
    }
    child.on('error', (err) => reject(new Error(`cannot run ${argv[0]}: ${err.message}`)));
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal];
}
