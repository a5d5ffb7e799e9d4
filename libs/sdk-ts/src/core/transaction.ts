// A client-side transaction: nothing is opened on the daemon; reads go to the
// daemon at once (and are recorded as preconditions), writes and deletes are
// validated at once and buffered, and commit sends everything in one
// Transact call, the transaction's only RPC besides its reads.
import { ConnectionError, StatehouseError, TransactionError } from "./errors.js";
import { toStateResult } from "./convert.js";
import { validateValue } from "./json-value.js";
import { requireName } from "./require-name.js";
import type { RpcRunner } from "./rpc-runner.js";
import type { CallOptions, JsonObject, StateResult } from "./types.js";

/**
 * Lifecycle of a {@link Transaction}:
 * `open` → `committed` | `aborted` | `failed` (the commit was rejected, or the
 * connection broke during it: whether it applied is then unknown).
 * `committing` while the commit call is in flight.
 */
export type TransactionState = "open" | "committing" | "committed" | "aborted" | "failed";

interface PendingOperation {
  agentId: string;
  key: string;
  value: JsonObject | null;
}

interface RecordedRead {
  agentId: string;
  key: string;
  version: bigint;
}

/** The timeout of a transaction begun without `timeoutMs` (the daemon's default, STATEHOUSE_TX_TIMEOUT_MS). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** @internal What a client hands to a new Transaction. */
export interface TransactionInit {
  runner: RpcRunner;
  id: string;
  namespace: string;
  idempotencyKey: string;
  maxValueBytes: number;
  timeoutMs: number;
}

function recordKey(agentId: string, key: string): string {
  return JSON.stringify([agentId, key]);
}

/**
 * A transaction opened with `client.beginTransaction()`.
 *
 * - {@link get} reads the latest committed state from the daemon and records
 *   the version it saw; the commit fails with `ConflictError` if any recorded
 *   key changed meanwhile.
 * - {@link write} and {@link delete} are validated immediately and buffered
 *   locally; nothing is sent until {@link commit}.
 * - {@link commit} sends the buffered operations, the recorded versions and
 *   the idempotency key in one Transact call: a transaction costs one round
 *   trip plus one per `get`. Nothing is opened on the daemon before it (no
 *   BeginTransaction), so a daemon restart before the commit loses nothing.
 * - A transaction older than its `timeoutMs` (default 30 000) fails at commit
 *   with `TransactionError` `TXN_EXPIRED`, as a server-side one does.
 *
 * Supports `await using tx = await client.beginTransaction()`: leaving the
 * scope aborts the transaction unless it was committed.
 */
export class Transaction implements AsyncDisposable {
  /** A client-side id of this transaction (random; the daemon sees only the idempotency key). */
  readonly id: string;
  /** Namespace of every operation of this transaction. */
  readonly namespace: string;
  /** Idempotency key sent with the commit. */
  readonly idempotencyKey: string;

  readonly #runner: RpcRunner;
  readonly #maxValueBytes: number;
  readonly #timeoutMs: number;
  /** When the transaction expires (performance.now() milliseconds). */
  readonly #deadline: number;
  readonly #operations = new Map<string, PendingOperation>();
  readonly #reads = new Map<string, RecordedRead>();
  #state: TransactionState = "open";
  #commitTs: bigint | undefined;
  #duplicate = false;
  /** True after the commit's connection broke: whether it applied is unknown until it is resent. */
  #ambiguous = false;

  /** @internal Use `client.beginTransaction()`. */
  constructor(init: TransactionInit) {
    this.#runner = init.runner;
    this.id = init.id;
    this.namespace = init.namespace;
    this.idempotencyKey = init.idempotencyKey;
    this.#maxValueBytes = init.maxValueBytes;
    this.#timeoutMs = init.timeoutMs;
    this.#deadline = performance.now() + init.timeoutMs;
  }

  /** Current lifecycle state. */
  get state(): TransactionState {
    return this.#state;
  }

  /** commit_ts once committed, else `undefined`. */
  get commitTs(): bigint | undefined {
    return this.#commitTs;
  }

  /** True when the commit found its idempotency key already committed and applied nothing. */
  get duplicate(): boolean {
    return this.#duplicate;
  }

  #assertOpen(): void {
    switch (this.#state) {
      case "open":
        return;
      case "committing":
        throw new TransactionError("TXN_ALREADY_COMMITTED", `transaction ${this.id} is being committed`);
      case "committed":
        throw new TransactionError("TXN_ALREADY_COMMITTED", `transaction ${this.id} was already committed`);
      case "aborted":
        throw new TransactionError("TXN_ABORTED", `transaction ${this.id} was aborted`);
      case "failed":
        throw new TransactionError("TXN_ABORTED", `the commit of transaction ${this.id} failed; start a new transaction`);
    }
  }

  /**
   * Reads a key's latest committed state and records its version, so the
   * commit fails with `ConflictError` if the key changes before it. For a key
   * written or deleted earlier in this transaction, `value` and `exists`
   * reflect the pending operation (read your own writes) while `version` and
   * `commitTs` stay those of the committed state the transaction depends on.
   *
   * @throws TransactionError when the transaction is no longer open
   * @throws ConnectionError when the daemon cannot be reached
   */
  async get(agentId: string, key: string, options?: CallOptions): Promise<StateResult> {
    requireName(agentId, "agentId");
    requireName(key, "key");
    this.#assertOpen();
    const namespace = this.namespace;
    const response = await this.#runner.unary(options, (rpc, callOptions) =>
      rpc.getState({ namespace, agentId, key }, callOptions),
    );
    const state = toStateResult(response);
    const id = recordKey(agentId, key);
    if (!this.#reads.has(id)) {
      this.#reads.set(id, { agentId, key, version: state.version });
    }
    const pending = this.#operations.get(id);
    if (pending === undefined) {
      return state;
    }
    return { ...state, value: pending.value, exists: pending.value !== null };
  }

  /**
   * Buffers a write of `value` (a plain JSON object, copied now) to `key`.
   * A later write or delete of the same key in this transaction replaces it.
   *
   * @throws TypeError when `value` is not a plain JSON-serializable object
   * @throws StatehouseError `LIMIT_EXCEEDED` when `value` is larger than `maxValueBytes`
   * @throws TransactionError when the transaction is no longer open
   */
  write(agentId: string, key: string, value: JsonObject): void {
    requireName(agentId, "agentId");
    requireName(key, "key");
    this.#assertOpen();
    const copy = validateValue(value, this.#maxValueBytes);
    this.#operations.set(recordKey(agentId, key), { agentId, key, value: copy });
  }

  /**
   * Buffers a delete of `key` (a tombstone: the key's version still advances).
   *
   * @throws TransactionError when the transaction is no longer open
   */
  delete(agentId: string, key: string): void {
    requireName(agentId, "agentId");
    requireName(key, "key");
    this.#assertOpen();
    this.#operations.set(recordKey(agentId, key), { agentId, key, value: null });
  }

  /**
   * Commits: one call carrying the buffered operations, the versions recorded
   * by {@link get} and the idempotency key. Returns the commit_ts.
   *
   * @throws ConflictError when a key read by {@link get} changed; nothing was applied
   * @throws TransactionError `TXN_EXPIRED` when it is older than its timeout (checked before sending); when aborted or already committed
   * @throws ConnectionError when the connection broke; whether it applied is unknown
   */
  async commit(options?: CallOptions): Promise<bigint> {
    this.#assertOpen();
    if (performance.now() > this.#deadline) {
      this.#state = "failed";
      this.#operations.clear();
      throw new TransactionError("TXN_EXPIRED", `transaction ${this.id} expired: it is older than its timeout of ${this.#timeoutMs} ms`);
    }
    return this.#send(options);
  }

  /** True when the commit's connection broke, so whether it applied is unknown; {@link resendCommit} finds out. */
  get commitOutcomeUnknown(): boolean {
    return this.#ambiguous && this.#state === "failed";
  }

  /**
   * Resends a commit whose connection broke: the same operations, recorded
   * versions and idempotency key (also after the transaction's timeout: the
   * first commit was sent in time). If the first commit applied, this applies
   * nothing and returns its commit_ts (`duplicate`).
   *
   * @throws ConflictError when it had not applied and a recorded key changed since
   * @throws ConnectionError when the connection broke again (call it again later)
   */
  async resendCommit(options?: CallOptions): Promise<bigint> {
    if (!this.commitOutcomeUnknown) {
      throw new TypeError("resendCommit is only for a commit whose connection broke (commitOutcomeUnknown)");
    }
    return this.#send(options);
  }

  async #send(options: CallOptions | undefined): Promise<bigint> {
    this.#state = "committing";
    const namespace = this.namespace;
    try {
      const response = await this.#runner.unary(options, (rpc, callOptions) =>
        rpc.transact(
          {
            operations: Array.from(this.#operations.values(), (op) =>
              op.value === null
                ? { namespace, agentId: op.agentId, key: op.key, delete: true }
                : { namespace, agentId: op.agentId, key: op.key, value: op.value, delete: false },
            ),
            preconditions: Array.from(this.#reads.values(), (read) => ({
              namespace,
              agentId: read.agentId,
              key: read.key,
              expectedVersion: read.version,
            })),
            idempotencyKey: this.idempotencyKey,
          },
          callOptions,
        ),
      );
      this.#state = "committed";
      this.#ambiguous = false;
      this.#commitTs = response.commitTs;
      this.#duplicate = response.duplicate;
      return response.commitTs;
    } catch (error) {
      this.#state = "failed";
      this.#ambiguous = error instanceof ConnectionError;
      // A full disk refuses the commit: a TransactionError, as in the Python SDK.
      if (error instanceof StatehouseError && !(error instanceof TransactionError) && error.code === "STORAGE_FULL") {
        throw new TransactionError("STORAGE_FULL", error.message, {
          details: error.details,
          ...(error.status === undefined ? {} : { status: error.status }),
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * Aborts: drops the buffered operations. Idempotent. Nothing was sent to
   * the daemon before a commit, so this makes no call.
   *
   * @throws TransactionError `TXN_ALREADY_COMMITTED` when it was committed (or is being committed)
   */
  abort(_options?: CallOptions): Promise<void> {
    if (this.#state === "committed" || this.#state === "committing") {
      return Promise.reject(
        new TransactionError("TXN_ALREADY_COMMITTED", `transaction ${this.id} was already committed`),
      );
    }
    this.#state = "aborted";
    this.#operations.clear();
    return Promise.resolve();
  }

  /** Aborts if still open, ignoring errors (used by `await using` and withTransaction). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === "open" || this.#state === "failed") {
      await this.abort().catch((error: unknown) => {
        if (!(error instanceof StatehouseError)) {
          throw error;
        }
      });
    }
  }
}

/** True for errors after which re-running a whole transaction is safe and may succeed. */
export function isRetryable(error: unknown): boolean {
  return (
    error instanceof ConnectionError ||
    (error instanceof TransactionError && (error.code === "CONFLICT" || error.code === "TXN_NOT_FOUND"))
  );
}
