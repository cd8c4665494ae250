import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { createLogger } from '../../logger.ts';
import { LitefleetNode } from '../../node/litefleet-node.ts';

/** `litefleet run -c litefleet.yml`: starts the node and stops it cleanly on SIGINT/SIGTERM. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('start a litefleet node')
    .option('-c, --config <path>', 'config file (default: ./litefleet.yml, ~/litefleet.yml, /etc/litefleet.yml)')
    .option('--no-expand-env', 'do not expand ${VAR} in the config')
    .action(async (opts: { config?: string; expandEnv: boolean }) => {
      const file = resolveConfigPath(opts.config);
      const config = loadConfig(file, { expandEnv: opts.expandEnv });
      const logger = createLogger(config.log);
      const node = new LitefleetNode(config, logger);
      await node.start();
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, 'stopping');
          node.stop().then(resolve, (err: unknown) => {
            logger.error({ err }, 'error while stopping');
            process.exitCode = 1;
            resolve();
          });
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
