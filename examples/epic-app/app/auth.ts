import crypto from 'node:crypto';
import type { PrismaClient } from '@prisma/client';

const COOKIE = 'session';

/** Hashes a password with scrypt and a random salt: `salt:hash`, both hex. */
export function hashPassword(password: string): string {
  const salt = crypto.randomBytes(16);
  return `${salt.toString('hex')}:${crypto.scryptSync(password, salt, 32).toString('hex')}`;
}

function passwordMatches(password: string, stored: string): boolean {
  const [salt, hash] = stored.split(':');
  if (!salt || !hash) return false;
  const expected = Buffer.from(hash, 'hex');
  const actual = crypto.scryptSync(password, Buffer.from(salt, 'hex'), expected.length);
  return crypto.timingSafeEqual(actual, expected);
}

/**
 * Sessions are a signed cookie holding the user id: every instance checks it with the shared
 * SESSION_SECRET, so a session started through one instance works on all of them.
 */
export class Sessions {
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  #sign(value: string): string {
    return crypto.createHmac('sha256', this.#secret).update(value).digest('base64url');
  }

  /** The Set-Cookie value that signs `userId` in. */
  cookieFor(userId: string): string {
    return `${COOKIE}=${userId}.${this.#sign(userId)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400`;
  }

  /** The Set-Cookie value that signs out. */
  cookieCleared(): string {
    return `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`;
  }

  /** The user id a request's cookies carry, if the signature holds. */
  userId(cookieHeader: string | undefined): string | undefined {
    const raw = cookieHeader?.split(/;\s*/).find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1);
    const dot = raw?.lastIndexOf('.') ?? -1;
    if (!raw || dot < 1) return undefined;
    const id = raw.slice(0, dot);
    const sig = Buffer.from(raw.slice(dot + 1));
    const good = Buffer.from(this.#sign(id));
    return sig.length === good.length && crypto.timingSafeEqual(sig, good) ? id : undefined;
  }
}

/** The user with this username and password, or undefined. */
export async function verifyLogin(prisma: PrismaClient, username: string, password: string): Promise<{ id: string } | undefined> {
  const user = await prisma.user.findUnique({ where: { username }, select: { id: true, password: { select: { hash: true } } } });
  return user?.password && passwordMatches(password, user.password.hash) ? { id: user.id } : undefined;
}

/** Whether one of the user's roles grants `action` on `entity` with this `access` (the seeded Permission rows). */
export async function hasPermission(prisma: PrismaClient, userId: string, action: string, entity: string, access: 'own' | 'any'): Promise<boolean> {
  const count = await prisma.permission.count({ where: { action, entity, access, roles: { some: { users: { some: { id: userId } } } } } });
  return count > 0;
}
