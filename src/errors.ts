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
