// The SDK's error types. Every failure an SDK method reports is a
// StatehouseError (or a subclass) with a stable `code`; programmer misuse
// (wrong argument types, a value that is not a plain JSON object) throws
// TypeError instead. The mapping from Connect errors lives in map-error.ts.

/**
 * Stable error codes. Branch on these, never on messages.
 *
 * The first group mirrors the daemon's `statehouse.v1.ErrorCode`:
 * - `UNKNOWN` – the daemon reported an error without a Statehouse code.
 * - `INVALID_REQUEST` – the daemon rejected the request's arguments.
 * - `TXN_NOT_FOUND` – the transaction id is unknown to the daemon (never existed, or the daemon restarted).
 * - `TXN_EXPIRED` – the transaction outlived its `timeoutMs`.
 * - `TXN_ALREADY_COMMITTED` – the transaction was already committed.
 * - `TXN_ABORTED` – the transaction was aborted before this call.
 * - `KEY_NOT_FOUND` – the key does not exist.
 * - `VERSION_NOT_FOUND` – the requested version of a key does not exist.
 * - `STORAGE_ERROR` – the daemon's storage failed.
 * - `INTERNAL_ERROR` – a bug or unexpected state in the daemon.
 * - `CONFLICT` – a value read in the transaction changed before the commit; nothing was applied.
 * - `LIMIT_EXCEEDED` – a documented limit (value size, ...) was exceeded; `details.limit` names it.
 * - `STORAGE_FULL` – the daemon's disk is full; reads still work.
 * - `UNAVAILABLE` – the daemon could not be reached, the connection broke, or the daemon is shutting down.
 * - `UNAUTHENTICATED` – no API key where the daemon requires one, or one it does not accept (unknown, revoked, expired).
 * - `PERMISSION_DENIED` – the key lacks the role a namespace needs; `details.namespace` and `details.role` name them.
 *
 * Client-side only:
 * - `CANCELLED` – the caller aborted the call through its `AbortSignal`.
 * - `CLOSED` – the client was closed before or during the call.
 */
export type StatehouseErrorCode =
  | "UNKNOWN"
  | "INVALID_REQUEST"
  | "TXN_NOT_FOUND"
  | "TXN_EXPIRED"
  | "TXN_ALREADY_COMMITTED"
  | "TXN_ABORTED"
  | "KEY_NOT_FOUND"
  | "VERSION_NOT_FOUND"
  | "STORAGE_ERROR"
  | "INTERNAL_ERROR"
  | "CONFLICT"
  | "LIMIT_EXCEEDED"
  | "STORAGE_FULL"
  | "UNAVAILABLE"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "CANCELLED"
  | "CLOSED";

/** Codes carried by a {@link TransactionError}. */
export type TransactionErrorCode =
  | "TXN_NOT_FOUND"
  | "TXN_EXPIRED"
  | "TXN_ALREADY_COMMITTED"
  | "TXN_ABORTED"
  | "CONFLICT"
  /** A commit refused because the daemon's disk is full (as the Python SDK reports it); nothing was applied. */
  | "STORAGE_FULL";

/** Codes carried by a {@link NotFoundError}. */
export type NotFoundErrorCode = "KEY_NOT_FOUND" | "VERSION_NOT_FOUND";

/** Extra information attached to a {@link StatehouseError}. */
export interface StatehouseErrorOptions {
  /** Key/value details from the daemon (for example `limit` for `LIMIT_EXCEEDED`). */
  details?: Readonly<Record<string, string>>;
  /** The RPC status name, such as `"NOT_FOUND"`, when the error came from an RPC. */
  status?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Base class of every error the SDK reports (other than `TypeError` for misuse).
 *
 * @example
 * ```ts
 * try {
 *   await client.getStateAtVersion("agent-1", "plan", 99);
 * } catch (err) {
 *   if (err instanceof StatehouseError && err.code === "VERSION_NOT_FOUND") { ... }
 * }
 * ```
 */
export class StatehouseError extends Error {
  /** Stable machine-readable code. */
  readonly code: StatehouseErrorCode;
  /** Details from the daemon's error detail (empty when there are none). */
  readonly details: Readonly<Record<string, string>>;
  /** The RPC status name (`"NOT_FOUND"`, `"ABORTED"`, ...) when the error came from an RPC. */
  readonly status: string | undefined;

  /**
   * @param code - stable code, see {@link StatehouseErrorCode}
   * @param message - human-readable description
   * @param options - details, RPC status and cause
   */
  constructor(code: StatehouseErrorCode, message: string, options: StatehouseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StatehouseError";
    this.code = code;
    this.details = Object.freeze({ ...options.details });
    this.status = options.status;
  }
}

/**
 * A transaction could not be used or committed: it is unknown to the daemon
 * (for example after a daemon restart), expired, already committed or aborted,
 * or its commit was rejected. Nothing of the transaction was applied (except
 * for `TXN_ALREADY_COMMITTED`, where an earlier commit was).
 */
export class TransactionError extends StatehouseError {
  declare readonly code: TransactionErrorCode;

  /**
   * @param code - one of {@link TransactionErrorCode}
   * @param message - human-readable description
   * @param options - details, RPC status and cause
   */
  constructor(code: TransactionErrorCode, message: string, options: StatehouseErrorOptions = {}) {
    super(code, message, options);
    this.name = "TransactionError";
  }
}

/**
 * A value the transaction read (with `tx.get`) changed before the commit, so
 * nothing was applied (code `CONFLICT`). Retrying the whole transaction
 * usually succeeds; `withTransaction` does that for you.
 */
export class ConflictError extends TransactionError {
  declare readonly code: "CONFLICT";

  /**
   * @param message - human-readable description
   * @param options - details, RPC status and cause
   */
  constructor(message: string, options: StatehouseErrorOptions = {}) {
    super("CONFLICT", message, options);
    this.name = "ConflictError";
  }
}

/** A requested key or version does not exist. */
export class NotFoundError extends StatehouseError {
  declare readonly code: NotFoundErrorCode;

  /**
   * @param code - one of {@link NotFoundErrorCode}
   * @param message - human-readable description
   * @param options - details, RPC status and cause
   */
  constructor(code: NotFoundErrorCode, message: string, options: StatehouseErrorOptions = {}) {
    super(code, message, options);
    this.name = "NotFoundError";
  }
}

/**
 * The daemon could not be reached, or the connection broke during the call or
 * stream (for example because the daemon was killed), or the daemon is
 * shutting down. Code `UNAVAILABLE`. Whether a commit interrupted this way was
 * applied is unknown; `withTransaction` retries it safely with an idempotency key.
 */
export class ConnectionError extends StatehouseError {
  declare readonly code: "UNAVAILABLE";

  /**
   * @param message - human-readable description
   * @param options - details, RPC status and cause
   */
  constructor(message: string, options: StatehouseErrorOptions = {}) {
    super("UNAVAILABLE", message, options);
    this.name = "ConnectionError";
  }
}

/**
 * The daemon wants a credential and got none, or one it does not accept: an
 * unknown, revoked, expired or malformed API key (code `UNAUTHENTICATED`).
 * Retrying with the same key cannot succeed; nothing was applied.
 */
export class AuthenticationError extends StatehouseError {
  declare readonly code: "UNAUTHENTICATED";

  /**
   * @param message - human-readable description
   * @param options - details, RPC status and cause
   */
  constructor(message: string, options: StatehouseErrorOptions = {}) {
    super("UNAUTHENTICATED", message, options);
    this.name = "AuthenticationError";
  }
}

/**
 * The API key lacks the role the call needs on a namespace (code
 * `PERMISSION_DENIED`): `details.namespace` and `details.role` (`read`,
 * `write`, `admin`) name them. Nothing was applied.
 */
export class PermissionDeniedError extends StatehouseError {
  declare readonly code: "PERMISSION_DENIED";

  /**
   * @param message - human-readable description
   * @param options - details, RPC status and cause
   */
  constructor(message: string, options: StatehouseErrorOptions = {}) {
    super("PERMISSION_DENIED", message, options);
    this.name = "PermissionDeniedError";
  }
}
