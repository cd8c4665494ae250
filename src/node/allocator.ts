/**
 * glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MB), and
 * from then on serves such blocks from its heaps and keeps what is freed there: the per-commit
 * Buffers a node churns through between collections, and its 4 MB reads, left the soak's nodes
 * 20-30 MB above what they held, in steps. Fixed thresholds keep blocks of 128 KB and more mapped
 * (given back to the system when freed) and trim free heap above 256 KB. glibc reads them only at
 * start, from the environment, so `run` starts itself again with them where Node can replace its
 * own process (process.execve: Node 22.15, 23.11 and later), unless the environment sets either.
 */
const SETTINGS = { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '262144' };
/** Marks the settings as the node's own, not the user's: the app the node runs does not get them. */
const MARK = 'LITEFLEET_ALLOCATOR';

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

export function tuneAllocator(): void {
  const execve = (process as { execve?: Execve }).execve;
  if (process.platform !== 'linux' || typeof execve !== 'function') return;
  if (Object.keys(SETTINGS).some((name) => process.env[name] !== undefined)) return;
  try {
    execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, ...SETTINGS, [MARK]: '1' });
  } catch {
    // Carry on as started: the settings save memory; nothing depends on them.
  }
}

/** `env` without the allocator settings the node gave itself (an app's allocator is its own business). */
export function withoutNodeAllocator(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env[MARK] === undefined) return env;
  const out = { ...env };
  for (const name of [MARK, ...Object.keys(SETTINGS)]) delete out[name];
  return out;
}
