import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { createLogger } from '../../logger.ts';
import { runExec, type ExecCommand } from '../../node/exec.ts';
import { LitefleetNode } from '../../node/litefleet-node.ts';

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
          await node.stop().catch((err: unknown) => {
            logger.error({ err }, 'error while stopping');
            process.exitCode = 1;
          });
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
    });
}
