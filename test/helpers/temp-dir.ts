import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

/**
 * A fresh folder removed when the test file ends (kept with KEEP_TEST_DIRS=1 for debugging).
 * `before` runs first (stopping the processes that still write there).
 */
export function makeTempDir(prefix = 'litefleet-', before?: () => Promise<void>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  after(async () => {
    await before?.();
    if (!process.env.KEEP_TEST_DIRS) fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
