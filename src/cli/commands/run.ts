import os from 'node:os';
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { createLogger } from '../../logger.ts';
import { runExec, type ExecCommand } from '../../node/exec.ts';
import { LitefleetNode } from '../../node/litefleet-node.ts';

const STOP_DEADLINE_MS = 20_000;
const LINGER_MS = 2_000;

/**
 * `litefleet run -c litefleet.yml [-- cmd args]`: starts the node, runs the config's `exec`
 * commands (or the one after `--`, which replaces the config's last) once it is ready, and stops
 * cleanly on SIGINT/SIGTERM or when the app exits (handing the lease off first when it can).
 */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('start a litefleet node (and the app after --)')
    .argument('[cmd...]', 'the app to run once the node is ready (after --)')
    .option('-c, --config <path>', 'config file (default: ./litefleet.yml, ~/litefleet.yml, /etc/litefleet.yml)')
    .option('--no-expand-env', 'do not expand ${VAR} in the config')
    .action(async (cmd: string[], opts: { config?: string; expandEnv: boolean }) => {
      // As LiteFS does, so a config can say ${HOSTNAME} where no shell or container exported it.
      process.env.HOSTNAME ??= os.hostname();
      const file = resolveConfigPath(opts.config);
      const config = loadConfig(file, { expandEnv: opts.expandEnv });
      const logger = createLogger(config.log);
      const node = new LitefleetNode(config, logger);
      const commands: ExecCommand[] = [...(config.exec ?? [])];
      if (cmd.length > 0) {
        if (commands.length > 0) commands.pop();
        commands.push({ cmd, 'if-candidate': false });
      }
      await node.start();
      let stopping: Promise<void> | undefined;
      const stop = (why: string) => {
        stopping ??= (async () => {
          logger.info({ why }, 'stopping');
          // A deploy's SIGTERM must end the process even if a step of the shutdown never returns.
          const deadline = setTimeout(() => {
            logger.error({ active: process.getActiveResourcesInfo() }, `could not stop within ${STOP_DEADLINE_MS / 1000} s; exiting`);
            process.exit(1);
          }, STOP_DEADLINE_MS);
          await node.stop().catch((err: unknown) => {
            logger.error({ err }, 'error while stopping');
            process.exitCode = 1;
          });
          clearTimeout(deadline);
        })();
        return stopping;
      };
      let appRunning = false;
      await new Promise<void>((resolve) => {
        // While the app runs, signals are its to handle (they are forwarded); its exit stops the node.
        const onSignal = (sig: NodeJS.Signals) => {
          if (!appRunning) void stop(sig).then(resolve);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        if (commands.length === 0) return;
        runExec(node, commands, logger, () => (appRunning = true)).then(
          async (code) => {
            await stop(`the app exited with code ${code}`);
            process.exitCode = code;
            resolve();
          },
          async (err: unknown) => {
            logger.error({ err: (err as Error).message }, 'exec failed');
            await stop('exec failed');
            process.exitCode = 1;
            resolve();
          },
        );
      });
      // Everything is closed; a handle a library still holds (a timer, a watcher) must not keep a
      // stopped node alive. Unref'd: a process with nothing left exits before it fires.
      setTimeout(() => {
        logger.warn({ active: process.getActiveResourcesInfo() }, 'handles still open after stopping; exiting');
        process.exit();
      }, LINGER_MS).unref();
    });
}
