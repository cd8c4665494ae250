import fs from 'node:fs';

/** The package's version, read from its package.json (src/ and dist/ both sit two levels below it). */
export const VERSION = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
