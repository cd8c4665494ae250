// A small server-rendered notes app in the Epic Stack's style, run behind litefleet's proxy: reads
// are served by whichever instance answers, writes reach the primary through the proxy, and the
// proxy's txid cookie makes the page after a write show it at once.
import http from 'node:http';
import { getInstanceInfo } from 'litefleet/client';
import { hasPermission, Sessions, verifyLogin } from './app/auth.ts';
import { createPrisma } from './app/db.ts';
import { renderPage } from './app/page.ts';

const prisma = createPrisma();
const secret = process.env.SESSION_SECRET;
if (!secret) throw new Error('set SESSION_SECRET (the same on every instance)');
const sessions = new Sessions(secret);
const port = Number(process.env.PORT ?? 3000);

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return new URLSearchParams(body);
}

function redirect(res: http.ServerResponse, cookie?: string): void {
  res.writeHead(303, { location: '/', ...(cookie ? { 'set-cookie': cookie } : {}) });
  res.end();
}

async function page(req: http.IncomingMessage, res: http.ServerResponse, status = 200, message?: string): Promise<void> {
  const info = await getInstanceInfo();
  const userId = sessions.userId(req.headers.cookie);
  const user = userId ? await prisma.user.findUnique({ where: { id: userId }, select: { id: true, username: true, roles: { select: { name: true } } } }) : null;
  const notes = await prisma.note.findMany({ orderBy: { createdAt: 'asc' }, include: { owner: { select: { username: true } } } });
  const html = renderPage({
    // The demo names its instances; on Fly the machine id is the instance, as in fly-replay.
    instance: process.env.FLY_MACHINE_ID ?? process.env.INSTANCE_NAME ?? info.currentInstance,
    primary: info.primaryInstance,
    isPrimary: info.currentIsPrimary,
    user: user ? { username: user.username, roles: user.roles.map((r) => r.name) } : undefined,
    notes: notes.map((n) => ({ id: n.id, title: n.title, content: n.content, owner: n.owner.username, createdAt: n.createdAt })),
    message,
  });
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://app');
  const userId = sessions.userId(req.headers.cookie);
  if (req.method === 'GET' && url.pathname === '/') return page(req, res);
  if (req.method === 'GET' && url.pathname === '/resources/healthcheck') {
    await prisma.user.count();
    res.writeHead(200, { 'content-type': 'text/plain' });
    return void res.end('OK\n');
  }
  if (req.method === 'POST' && url.pathname === '/login') {
    const form = await readForm(req);
    const user = await verifyLogin(prisma, form.get('username') ?? '', form.get('password') ?? '');
    if (!user) return page(req, res, 401, 'Wrong username or password.');
    return redirect(res, sessions.cookieFor(user.id));
  }
  if (req.method === 'POST' && url.pathname === '/logout') return redirect(res, sessions.cookieCleared());
  if (req.method === 'POST' && url.pathname === '/notes') {
    if (!userId || !(await hasPermission(prisma, userId, 'create', 'note', 'own'))) return page(req, res, 403, 'Sign in to add notes.');
    const form = await readForm(req);
    await prisma.note.create({ data: { title: form.get('title') ?? '', content: form.get('content') ?? '', ownerId: userId } });
    return redirect(res);
  }
  const del = /^\/notes\/([^/]+)\/delete$/.exec(url.pathname);
  if (req.method === 'POST' && del) {
    const note = await prisma.note.findUnique({ where: { id: decodeURIComponent(del[1]!) } });
    if (!note) return page(req, res, 404, 'That note is gone.');
    const allowed = !!userId && ((await hasPermission(prisma, userId, 'delete', 'note', 'any')) || (note.ownerId === userId && (await hasPermission(prisma, userId, 'delete', 'note', 'own'))));
    if (!allowed) return page(req, res, 403, 'You may not delete this note: your role lets you delete only your own notes.');
    await prisma.note.delete({ where: { id: note.id } });
    return redirect(res);
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    console.error(err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`error: ${(err as Error).message}\n`);
  });
});
server.listen(port, process.env.HOST ?? '127.0.0.1', () => console.log(`notes app on http://${process.env.HOST ?? '127.0.0.1'}:${port}`));
const stop = () => server.close(() => void prisma.$disconnect().then(() => process.exit(0)));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
