import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkMigrations } from '../../src/migrations/check-migrations.ts';
import { readMigrationFolder } from '../../src/migrations/migration-folder.ts';
import { runCli } from '../helpers/node-process.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const split = path.join(fixtures, 'migrations/prisma-name-split');

/** A Prisma migrations folder holding the given fixture files of prisma-name-split, in order. */
function prismaFolder(...files: string[]): string {
  const dir = path.join(makeTempDir('litefleet-migrations-'), 'prisma', 'migrations');
  for (const f of files) {
    fs.mkdirSync(path.join(dir, f), { recursive: true });
    fs.copyFileSync(path.join(split, `${f}.sql`), path.join(dir, f, 'migration.sql'));
  }
  return dir;
}

function check(dir: string, since?: string) {
  return checkMigrations(readMigrationFolder(dir), { since });
}

test("the Epic Stack's first migration is clean (and the folder is read as Prisma's from prisma/)", async () => {
  const r = check(path.join(fixtures, 'epic-stack/prisma'));
  assert.equal(r.format, 'prisma');
  assert.deepEqual(r.migrations, ['20250221233640_init']);
  assert.deepEqual(r.changes, []);
  const cli = await runCli(['migrations', 'check', path.join(fixtures, 'epic-stack/prisma/migrations')]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /1 prisma migration; checked 20250221233640_init\n\nno narrowing changes\n$/);
});

test("the guide's name → firstName/lastName, step by step: widening is clean, the final narrow step is allowed by its comment", async () => {
  const widen = prismaFolder('20260101000000_init', '20260102000000_add_first_last_name');
  assert.deepEqual(check(widen).changes, []);
  const narrow = prismaFolder('20260101000000_init', '20260102000000_add_first_last_name', '20260103000000_drop_name');
  const r = check(narrow, '20260102000000_add_first_last_name');
  assert.deepEqual(r.checked, ['20260102000000_add_first_last_name', '20260103000000_drop_name']);
  assert.deepEqual(r.changes.map((c) => [c.migration, c.kind, c.object, c.allowed]), [['20260103000000_drop_name', 'column-dropped', 'User.name', true]]);
  const cli = await runCli(['migrations', 'check', narrow]);
  assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /allowed {2}20260103000000_drop_name: User.name dropped/);
  assert.match(cli.stdout, /no narrowing changes \(1 allowed\)/);

  // The same drop without the comment is flagged.
  const unmarked = prismaFolder('20260101000000_init', '20260102000000_add_first_last_name', '20260103000000_drop_name');
  const file = path.join(unmarked, '20260103000000_drop_name', 'migration.sql');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^-- litefleet: allow-narrowing.*\n/, ''));
  assert.deepEqual(check(unmarked).changes.map((c) => [c.kind, c.allowed]), [['column-dropped', false]]);
});

test('dropping name in the same deploy that adds firstName/lastName (Prisma\'s table redefinition) is flagged, with what breaks and what to do', async () => {
  const dir = prismaFolder('20260101000000_init', '20260102000000_split_name_in_one_deploy');
  const cli = await runCli(['migrations', 'check', dir, '--json']);
  assert.equal(cli.code, 1, cli.stderr);
  const report = JSON.parse(cli.stdout) as ReturnType<typeof check>;
  assert.equal(report.changes.length, 1);
  const c = report.changes[0]!;
  assert.deepEqual([c.migration, c.kind, c.object, c.change, c.allowed], ['20260102000000_split_name_in_one_deploy', 'column-dropped', 'User.name', 'dropped', false]);
  assert.match(c.breaks, /no such column: name/);
  assert.equal(c.instead.length, 2);
  assert.match(c.instead[1]!, /later migration marked `-- litefleet: allow-narrowing`/);

  const text = await runCli(['migrations', 'check', dir]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /NARROWING {2}20260102000000_split_name_in_one_deploy: User.name dropped\n {2}breaks the version still running: .*no such column: name/);
  assert.match(text.stdout, /instead, widen then narrow, each step its own deploy:\n {4}1\. Deploy a version of the app that no longer reads or writes User\.name/);
  assert.match(text.stdout, /1 narrowing change: the old version breaks while this deploys\n$/);
});

test("Prisma's redefinition that carries name into firstName is a rename; one that makes a column NOT NULL is a constraint change", () => {
  const renamed = check(prismaFolder('20260101000000_init', '20260102000000_rename_name_to_first_name'));
  assert.deepEqual(renamed.changes.map((c) => [c.kind, c.object, c.change]), [['column-renamed', 'User.name', 'renamed to firstName']]);
  assert.match(renamed.changes[0]!.instead[0]!, /UPDATE "User" SET "firstName" = "name"/);

  const required = check(prismaFolder('20260101000000_init', '20260102000000_add_first_last_name', '20260103000000_drop_name', '20260104000000_first_name_required'));
  assert.deepEqual(required.changes.map((c) => [c.kind, c.object, c.change]), [['constraint-changed', 'User.firstName', 'NOT NULL added']]);
  assert.match(required.changes[0]!.breaks, /NOT NULL constraint failed: User.firstName/);
});

test('plain folders: renames, new NOT NULL columns, type and CHECK changes, new unique indexes; a unique index over a new nullable column is safe', () => {
  const dir = makeTempDir('litefleet-migrations-');
  const write = (name: string, sql: string) => fs.writeFileSync(path.join(dir, name), sql);
  write('1_init.sql', 'CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT, nick TEXT, age TEXT, score INTEGER DEFAULT 0 NOT NULL); CREATE TABLE audit(id INTEGER PRIMARY KEY);');
  write('2_widen.sql', 'ALTER TABLE users ADD COLUMN slug TEXT; CREATE UNIQUE INDEX users_slug ON users(slug); CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);');
  write(
    '10_narrow.sql',
    `ALTER TABLE users RENAME COLUMN nick TO handle;
     ALTER TABLE audit RENAME TO audit_log;
     CREATE TABLE new_users(id INTEGER PRIMARY KEY, email TEXT, handle TEXT, age INTEGER CHECK (age >= 0), score INTEGER NOT NULL, slug TEXT, tenant TEXT NOT NULL);
     INSERT INTO new_users(id, email, handle, age, score, slug, tenant) SELECT id, email, handle, age, score, slug, 'x' FROM users;
     DROP TABLE users; ALTER TABLE new_users RENAME TO users;
     CREATE UNIQUE INDEX users_slug ON users(slug); CREATE UNIQUE INDEX users_email ON users(email);`,
  );
  const folder = readMigrationFolder(dir);
  assert.equal(folder.format, 'plain');
  assert.deepEqual(folder.migrations.map((m) => m.name), ['1_init', '2_widen', '10_narrow']);
  assert.deepEqual(checkMigrations(folder, { since: '2_widen' }).changes.filter((c) => c.migration === '2_widen'), []);
  const changes = checkMigrations(folder).changes.map((c) => `${c.kind} ${c.object}: ${c.change}`);
  assert.deepEqual(changes.sort(), [
    'column-renamed users.nick: renamed to handle',
    'constraint-changed users.score: DEFAULT 0 removed',
    'constraint-changed users: CHECK (age >= 0) added or changed',
    'not-null-without-default users.tenant: added NOT NULL without a DEFAULT',
    'table-renamed audit: renamed to audit_log',
    'type-changed users.age: type TEXT → INTEGER',
    'unique-index-added users(email): unique index users_email added',
  ]);
});

test('Drizzle folders follow their journal; a migration that does not apply names itself; --since must name a migration', async () => {
  const dir = makeTempDir('litefleet-drizzle-');
  fs.mkdirSync(path.join(dir, 'meta'));
  fs.writeFileSync(path.join(dir, 'meta', '_journal.json'), JSON.stringify({ version: '7', dialect: 'sqlite', entries: [{ idx: 1, version: '6', when: 2, tag: '0001_drop_posts', breakpoints: true }, { idx: 0, version: '6', when: 1, tag: '0000_init', breakpoints: true }] }));
  fs.writeFileSync(path.join(dir, '0000_init.sql'), 'CREATE TABLE `posts` (`id` integer PRIMARY KEY NOT NULL);\n--> statement-breakpoint\nCREATE TABLE `users` (`id` integer PRIMARY KEY NOT NULL);\n');
  fs.writeFileSync(path.join(dir, '0001_drop_posts.sql'), 'DROP TABLE `posts`;');
  const r = check(dir);
  assert.equal(r.format, 'drizzle');
  assert.deepEqual(r.changes.map((c) => [c.migration, c.kind, c.object]), [['0001_drop_posts', 'table-dropped', 'posts']]);

  fs.writeFileSync(path.join(dir, '0001_drop_posts.sql'), 'DROP TABLE `nope`;');
  assert.throws(() => check(dir), { code: 'EMIGRATIONS', message: /migration 0001_drop_posts .* does not apply after the ones before it: no such table: nope/ });
  assert.throws(() => check(dir, 'missing'), { code: 'EMIGRATIONS', message: /no migration named missing .* there are: 0000_init, 0001_drop_posts/ });
  const cli = await runCli(['migrations', 'check', makeTempDir()]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /holds no migrations/);
});
