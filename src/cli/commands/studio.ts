import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { LitefleetError } from '../../errors.ts';
import { NodeClient } from '../../protocol/node-client.ts';

/** `litefleet studio [-c litefleet.yml] [--open]`: prints (or opens) the URL of the node's web studio. */
export function registerStudio(program: Command): void {
  program
    .command('studio')
    .description('print the URL of this node\'s web dashboard and data browser (sign in there with the cluster token)')
    .option('-c, --config <path>', 'config file of the local node')
    .option('--open', 'open the URL in the desktop\'s browser (xdg-open)')
    .action(async (opts: { config?: string; open?: boolean }) => {
      const config = loadConfig(resolveConfigPath(opts.config));
      if (!config.ui.enabled) throw new LitefleetError('EUSAGE', 'the studio is turned off on this node (ui.enabled: false)');
      const url = `${NodeClient.fromConfig(config).baseUrl}/ui/`;
      const health = await fetch(new URL('/health', url), { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      if (!health?.ok) throw new LitefleetError('ENODE', `no litefleet node answers at ${url}; start it with litefleet run`);
      process.stdout.write(`${url}\nSign in with the cluster token (http.token)${config.ui['read-only'] ? '; this studio is read-only (ui.read-only: true)' : ''}.\n`);
      if (opts.open) {
        const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
        child.on('error', (err) => process.stderr.write(`litefleet: could not run xdg-open (${err.message}); open the URL yourself\n`));
        child.unref();
      }
    });
}
