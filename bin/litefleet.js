#!/usr/bin/env node
// The CLI runs the JavaScript that `npm run build` (run by npm ci) compiles from src/ into dist/.
import module from 'node:module';

// Node 22.1 and later keep V8's compiled code for the CLI's modules on disk, so later starts skip
// compiling them (the directory is Node's default, under the OS temp folder).
module.enableCompileCache?.();
const args = process.argv.slice(2);
try {
  // `--version` alone answers without loading commander and the command table (a quarter of its
  // start-up): scripts and health checks call it.
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) process.stdout.write(`${(await import('../dist/cli/version.js')).VERSION}\n`);
  else await import('../dist/cli/main.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !/dist\/cli\/(main|version)\.js/.test(String(err.message))) throw err;
  process.stderr.write('litefleet: dist/ is missing; build it with `npm run build` (npm ci does)\n');
  process.exitCode = 1;
}
