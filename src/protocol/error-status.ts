import { BusyError, LitefleetError } from '../errors.ts';

// The one table from an error's code to the HTTP status the API answers it with.
const STATUS: Record<string, number> = {
  EINVALID: 400,
  EINVALIDNAME: 400,
  ELTXFORMAT: 400,
  ECONFIG: 400,
  EUNAUTHORIZED: 401,
  EFORBIDDEN: 403,
  ENOTFOUND: 404,
  ENODB: 404,
  ENOPOINT: 404,
  ENOBACKUP: 404,
  ENOTPRIMARY: 409,
  ECONFLICT: 409,
  EHANDOFFSTATIC: 409,
  EDBSTATE: 409,
  ETOOLARGE: 413,
  EBUSY: 503,
  ENOPRIMARY: 503,
  ETIMEOUT: 504,
  EHANDOFF: 504,
};

/** The HTTP status an error is answered with: its code's, 500 for anything litefleet did not raise on purpose. */
export function statusOf(err: unknown): number {
  return err instanceof LitefleetError ? (STATUS[err.code] ?? 500) : 500;
}

/** Extra headers an error's answer carries (Retry-After for a busy database). */
export function errorHeaders(err: unknown): Record<string, string> {
  return err instanceof BusyError ? { 'retry-after': String(err.retryAfter) } : {};
}

/**
 * The error a node's error answer stands for, for code that calls the API (the studio, another
 * node): the code from the body when it has one, else one that answers with the same status.
 */
export function errorFromAnswer(status: number, body: { error?: string; code?: string }): LitefleetError {
  const code = body.code ?? Object.entries(STATUS).find(([, s]) => s === status)?.[0] ?? 'EREMOTE';
  return new LitefleetError(code, body.error ?? `the node answered ${status}`);
}
