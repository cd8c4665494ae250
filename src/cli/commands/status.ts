import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import type { NodeInfo } from '../../protocol/api-types.ts';
import { NodeClient } from '../../protocol/node-client.ts';
import { formatTable } from '../table.ts';

/** `litefleet status`: the node's role and each database's position, as a table or JSON. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show every node of the cluster with its role, position and lag, and this node\'s databases')
    .option('-c, --config <path>', 'config file of the node to ask')
    .option('--url <url>', 'node API URL (instead of the config\'s http.addr)')
    .option('--json', 'print JSON')
    .action(async (opts: { config?: string; url?: string; json?: boolean }) => {
      const config = loadConfig(resolveConfigPath(opts.config));
      const client = NodeClient.fromOptions(config, opts.url);
      const info = await client.getJson<NodeInfo>('/info');
      if (opts.json) {
        const out = {
          node: { id: info.node.id, role: info.node.role, hostname: info.node.hostname, primary: info.node.primary },
          databases: info.databases,
          nodes: info.nodes,
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const since = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));
      const rows = info.nodes.flatMap((n) => {
        const me = n.id === info.node.id ? ' (this node)' : '';
        if (n.databases.length === 0) return [[`${n.id}${me}`, n.role.toUpperCase(), '-', '-', '-', '-', since(n.connectedSince)]];
        return n.databases.map((d) => [`${n.id}${me}`, n.role.toUpperCase(), d.name, String(d.txid), String(d.lagTxids), `${d.lagMs}ms`, since(n.connectedSince)]);
      });
      process.stdout.write(`primary: ${info.node.primary ?? 'none'}\n\n`);
      process.stdout.write(formatTable(['NODE', 'ROLE', 'DATABASE', 'TXID', 'LAG (TX)', 'LAG (MS)', 'CONNECTED SINCE'], rows));
      process.stdout.write('\n');
      process.stdout.write(
        info.databases.length === 0
          ? 'no databases on this node yet\n'
          : formatTable(
              ['DATABASE', 'TXID', 'CHECKSUM', 'PAGE SIZE', 'PAGES'],
              info.databases.map((d) => [d.name, String(d.txid), d.checksum, String(d.pageSize), String(d.pages)]),
            ),
      );
      const problems = info.databases.filter((d) => d.problem);
      if (problems.length > 0) process.stdout.write(`\nproblems:\n${problems.map((d) => `  ${d.name}: ${d.problem}\n`).join('')}`);
    });
}
