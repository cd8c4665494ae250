/** Base class of every error litefleet raises on purpose: `code` is stable, so callers and the CLI can act on it. */
export class LitefleetError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The configuration file is missing, malformed, or names a value of the wrong type. */
export class ConfigError extends LitefleetError {
  constructor(message: string) {
    super('ECONFIG', message);
  }
}

/** An LTX file breaks a rule of the format: truncated, bad magic, a field out of range, a page out of order. */
export class LtxFormatError extends LitefleetError {
  constructor(message: string) {
    super('ELTXFORMAT', message);
  }
}

/** A checksum stored in an LTX file does not match the bytes or the database it describes. */
export class ChecksumMismatchError extends LitefleetError {
  constructor(message: string) {
    super('ECHECKSUM', message);
  }
}

/** A request to the node API came without the cluster token, or with a wrong one. */
export class UnauthorizedError extends LitefleetError {
  constructor(message = 'missing or wrong cluster token: send "Authorization: Bearer <http.token>"') {
    super('EUNAUTHORIZED', message);
  }
}

/** The database cannot be followed as it is (not WAL, locked exclusively, page size changed). */
export class UnsupportedDatabaseStateError extends LitefleetError {
  constructor(message: string) {
    super('EDBSTATE', message);
  }
}

/** A database name that is not a plain file name in `dir` (a path, a hidden or side file, a control character). */
export class InvalidNameError extends LitefleetError {
  constructor(what: string) {
    super('EINVALIDNAME', `invalid database name: ${what}`);
  }
}

/** A migrations folder cannot be read as Prisma, Drizzle or plain SQL, or one of its migrations does not apply. */
export class MigrationsError extends LitefleetError {
  constructor(message: string) {
    super('EMIGRATIONS', message);
  }
}

/** A LiteFS config cannot be read for conversion. */
export class LitefsConfigError extends LitefleetError {
  constructor(message: string) {
    super('ELITEFSCONFIG', message);
  }
}

/** A request that is malformed or asks for something impossible: a bad body, parameter or path. */
export class InvalidRequestError extends LitefleetError {
  constructor(message: string) {
    super('EINVALID', message);
  }
}

/** The request is understood but not allowed here (a read-only studio, a missing CSRF token). */
export class ForbiddenError extends LitefleetError {
  constructor(message: string) {
    super('EFORBIDDEN', message);
  }
}

/** What the request names does not exist (a row, a table, a backup). */
export class NotFoundError extends LitefleetError {
  constructor(message: string, code = 'ENOTFOUND') {
    super(code, message);
  }
}

/** The request names a database this node does not have. */
export class UnknownDatabaseError extends NotFoundError {
  constructor(name: string, known: string[]) {
    super(`unknown database ${name}; the databases are: ${known.join(', ') || 'none'}`, 'ENODB');
  }
}

/** Only the primary can do this, and this node is a replica. */
export class NotPrimaryError extends LitefleetError {
  constructor(message: string) {
    super('ENOTPRIMARY', message);
  }
}

/** There is no primary right now (an election is under way) to do or forward this. */
export class NoPrimaryError extends LitefleetError {
  constructor(message = 'there is no primary right now; try again in a moment') {
    super('ENOPRIMARY', message);
  }
}

/** The request conflicts with the cluster's state (another cluster, no candidate to hand off to). */
export class ConflictError extends LitefleetError {
  constructor(message: string) {
    super('ECONFLICT', message);
  }
}

/** The request body is larger than the endpoint takes. */
export class PayloadTooLargeError extends LitefleetError {
  constructor(limit: number) {
    super('ETOOLARGE', `request body is larger than ${limit} bytes`);
  }
}

/** The database is locked by a transaction that did not end in time: try again shortly. */
export class BusyError extends LitefleetError {
  /** Seconds after which a retry is likely to succeed. */
  readonly retryAfter: number;
  constructor(message: string, retryAfter = 1) {
    super('EBUSY', message);
    this.retryAfter = retryAfter;
  }
}

/** Something did not happen within its time (a node reaching a TXID, a statement finishing). */
export class TimeoutError extends LitefleetError {
  constructor(message: string) {
    super('ETIMEOUT', message);
  }
}

/** A handoff did not complete; the primary took its lease back and writes resumed there. */
export class HandoffFailedError extends LitefleetError {
  constructor(message: string) {
    super('EHANDOFF', message);
  }
}

/** The static lease has one fixed primary: there is nothing to hand off to. */
export class HandoffUnsupportedError extends LitefleetError {
  constructor(message = 'the static lease cannot be handed off; use etcd or Consul') {
    super('EHANDOFFSTATIC', message);
  }
}

/** Another node runs on this data-dir (each node needs its own: its id and log live there). */
export class DataDirInUseError extends LitefleetError {
  constructor(message: string) {
    super('EDATADIRINUSE', message);
  }
}
