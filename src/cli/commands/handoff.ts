import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { NodeClient } from '../../protocol/node-client.ts';

/** `litefleet handoff [--to NODE]`: moves the primary lease to a caught-up candidate without losing a write (for deploys). */
export function registerHandoff(program: Command): void {
  program
    .command('handoff')
    .description('hand the primary lease to a caught-up candidate (writes pause for the moment it takes)')
    .option('--to <node>', 'the node id to hand it to (default: the candidate furthest along)')
    .option('-c, --config <path>', 'config file of a node of the cluster (any node: replicas pass the request on)')
    .option('--url <url>', 'node API URL (instead of the config\'s http.addr)')
    .action(async (opts: { to?: string; config?: string; url?: string }) => {
      const config = loadConfig(resolveConfigPath(opts.config));
      const client = NodeClient.fromOptions(config, opts.url);
      const res = await client.postJson<{ primary: string; ms: number }>('/handoff', opts.to ? { to: opts.to } : {});
      process.stdout.write(`primary is now ${res.primary} (handoff took ${res.ms} ms)\n`);
    });
}
