// The client shared by the Node and browser entry points; each entry point
// only chooses the transport.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { toAgentSummary, toDaemonStatus, toReplayEvent, toStateEntry, toStateResult } from "./convert.js";
import { checkApiKey, credentialInterceptors } from "./credentials.js";
import { ConnectionError, StatehouseError } from "./errors.js";
import { DEFAULT_MAX_VALUE_BYTES } from "./json-value.js";
import { randomId } from "./random-id.js";
import { requireName } from "./require-name.js";
import { RpcRunner } from "./rpc-runner.js";
import { DEFAULT_TIMEOUT_MS, isRetryable, Transaction } from "./transaction.js";
import { toOptionalUint64, toUint64 } from "./uint64.js";
import type {
  AgentSummary,
  BeginTransactionOptions,
  CallOptions,
  ClientOptions,
  DaemonStatus,
  ListAgentsOptions,
  ListKeysOptions,
  ListNamespacesOptions,
  NamespaceOptions,
  PageOptions,
  ReplayEvent,
  ReplayOptions,
  StateEntry,
  StateResult,
  TransactOperation,
  TransactOptions,
  TransactOutcome,
  TransactionOutcome,
  Uint64Input,
  VersionInfo,
  WatchOptions,
  WithTransactionOptions,
} from "./types.js";

/** The daemon's default address. */
export const DEFAULT_URL = "http://localhost:50051";

/**
 * Normalizes a daemon address: `host:port` becomes `http://host:port`; a
 * trailing slash is dropped.
 *
 * @throws TypeError for anything that is not an http(s) URL
 */
export function normalizeUrl(url: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new TypeError(`url must be an http(s) URL or host:port, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`url must use http or https, got ${JSON.stringify(url)}`);
  }
  return parsed.href.replace(/\/+$/, "");
}

/**
 * The addresses of `url` / `urls` (one string, or several daemons of one
 * cluster, tried in order), normalized.
 *
 * @throws TypeError for an empty list, a bad address, or both options given
 */
export function normalizeUrls(options: Pick<ClientOptions, "url" | "urls">): string[] {
  if (options.url !== undefined && options.urls !== undefined) {
    throw new TypeError("give url or urls, not both");
  }
  const given = options.urls ?? options.url ?? DEFAULT_URL;
  const list = typeof given === "string" ? [given] : given;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`urls must be a non-empty array of addresses, got ${JSON.stringify(given)}`);
  }
  return list.map((url: unknown) => {
    if (typeof url !== "string") throw new TypeError(`url must be a string, got ${typeof url}`);
    return normalizeUrl(url);
  });
}

function requirePositiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Items asked for per page when the caller names no pageSize (the daemon's default caps). */
const DEFAULT_KEYS_PAGE = 10_000;
const DEFAULT_ENTRIES_PAGE = 1_000;
const DEFAULT_AGENTS_PAGE = 100;

function pageSizeOf(options: { pageSize?: number } | undefined, fallback: number): number {
  return options?.pageSize === undefined ? fallback : requirePositiveInteger(options.pageSize, "pageSize");
}

/** Every item of a paged read, one round trip per page, until the daemon sends no next_page_token. */
async function* paged<T>(fetch: (pageToken: string) => Promise<{ items: T[]; next: string }>): AsyncGenerator<T> {
  let pageToken = "";
  do {
    const page = await fetch(pageToken);
    yield* page.items;
    pageToken = page.next;
  } while (pageToken !== "");
}

async function toArray<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function prefixOf(options: { prefix?: string } | undefined): string {
  const prefix = options?.prefix ?? "";
  if (typeof prefix !== "string") {
    throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
  }
  return prefix;
}

function requireNonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** Waits `ms` milliseconds, or rejects with `CANCELLED` when `signal` fires. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancelled = (): void => {
      clearTimeout(timer);
      reject(new StatehouseError("CANCELLED", "the call was cancelled by the caller", { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", cancelled);
      resolve();
    }, ms);
    if (signal?.aborted === true) {
      cancelled();
    } else {
      signal?.addEventListener("abort", cancelled, { once: true });
    }
  });
}

/**
 * A Statehouse client. Both entry points export a `Statehouse` class derived
 * from this one that only picks the transport; use this type to accept either.
 *
 * Every method reports failures as {@link StatehouseError} subclasses:
 * `ConnectionError` when the daemon cannot be reached (also when it dies
 * mid-call or mid-stream), `TransactionError`/`ConflictError` for transaction
 * lifecycle failures, `NotFoundError` for a missing version. Misuse (bad
 * argument types) throws `TypeError`. After a daemon restart, the next call
 * simply reconnects.
 */
export class StatehouseClient implements AsyncDisposable {
  /** The first daemon's base URL. */
  readonly url: string;
  /**
   * Every daemon's base URL, in the order they are tried: a call that cannot
   * reach one (ConnectionError) moves on to the next, and later calls stay there.
   */
  readonly urls: readonly string[];
  /** Default namespace of every call. */
  readonly namespace: string;
  /** Largest value `Transaction.write` accepts, in UTF-8 bytes of JSON. */
  readonly maxValueBytes: number;

  readonly #runner: RpcRunner;
  readonly #onClose: (() => void) | undefined;

  /**
   * @param options - the client options (already normalized by the entry point)
   * @param createTransport - builds the transport for one normalized URL (called once per address), with the given interceptors (the API key's)
   * @param onClose - releases what the transport holds (connections)
   */
  protected constructor(
    options: ClientOptions,
    createTransport: (url: string, interceptors: Interceptor[]) => Transport,
    onClose?: () => void,
  ) {
    this.urls = normalizeUrls(options);
    this.url = this.urls[0] as string;
    this.namespace = requireName(options.namespace ?? "default", "namespace");
    this.maxValueBytes = requirePositiveInteger(options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES, "maxValueBytes");
    const apiKey = options.apiKey === undefined ? undefined : checkApiKey(options.apiKey, "apiKey");
    const interceptors = credentialInterceptors(apiKey);
    this.#runner = new RpcRunner(this.urls.map((url) => createTransport(url, interceptors)));
    this.#onClose = onClose;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#runner.closed;
  }

  /**
   * Closes the client: cancels calls and streams in flight (they reject with
   * code `CLOSED`) and releases connections. Idempotent. Later calls reject
   * with code `CLOSED`.
   */
  close(): Promise<void> {
    if (!this.#runner.closed) {
      this.#runner.close();
      this.#onClose?.();
    }
    return Promise.resolve();
  }

  /** Same as {@link close}; enables `await using client = new Statehouse(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #namespace(options: NamespaceOptions | undefined): string {
    return options?.namespace === undefined ? this.namespace : requireName(options.namespace, "namespace");
  }

  /** Checks the daemon; resolves to its status, `"ok"` when healthy. */
  async health(options?: CallOptions): Promise<string> {
    const response = await this.#runner.unary(options, (rpc, o) => rpc.health({}, o));
    return response.status;
  }

  /** The daemon's version and git commit. */
  async version(options?: CallOptions): Promise<VersionInfo> {
    const response = await this.#runner.unary(options, (rpc, o) => rpc.version({}, o));
    return { version: response.version, gitSha: response.gitSha };
  }

  /** Version, latest commit_ts, the last start's recovery report and live counters. */
  async daemonStatus(options?: CallOptions): Promise<DaemonStatus> {
    return toDaemonStatus(await this.#runner.unary(options, (rpc, o) => rpc.getDaemonStatus({}, o)));
  }

  /**
   * Starts a transaction. Nothing is sent to the daemon until `tx.commit()`
   * (one Transact call, the transaction's only RPC besides its `tx.get`
   * reads); `tx.abort()` makes no call. Or use {@link withTransaction}.
   */
  async beginTransaction(options: BeginTransactionOptions = {}): Promise<Transaction> {
    const namespace = this.#namespace(options);
    const timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : requirePositiveInteger(options.timeoutMs, "timeoutMs");
    const idempotencyKey =
      options.idempotencyKey === undefined ? randomId() : requireName(options.idempotencyKey, "idempotencyKey");
    if (this.#runner.closed) {
      throw new StatehouseError("CLOSED", "the client was closed");
    }
    options.signal?.throwIfAborted();
    return Promise.resolve(
      new Transaction({ runner: this.#runner, id: randomId(), namespace, idempotencyKey, maxValueBytes: this.maxValueBytes, timeoutMs }),
    );
  }

  /**
   * Commits `operations` as one transaction in one Transact call (no reads,
   * no preconditions). A commit whose connection broke is resent with the
   * same operations and idempotency key up to `retries` times, so it applies
   * at most once (`duplicate: true` when the resend found it applied).
   *
   * @example
   * ```ts
   * const { commitTs } = await client.transact([
   *   { agentId: "agent-1", key: "plan", value: { step: 2 } },
   *   { agentId: "agent-1", key: "draft", delete: true },
   * ]);
   * ```
   */
  async transact(operations: readonly TransactOperation[], options: TransactOptions = {}): Promise<TransactOutcome> {
    const { retries = 3, backoffMs = 100, maxBackoffMs = 2000, ...begin } = options;
    requireNonNegativeInteger(retries, "retries");
    requireNonNegativeInteger(backoffMs, "backoffMs");
    requireNonNegativeInteger(maxBackoffMs, "maxBackoffMs");
    if (!Array.isArray(operations)) {
      throw new TypeError("operations must be an array");
    }
    const tx = await this.beginTransaction(begin);
    for (const op of operations) {
      if (op !== null && typeof op === "object" && "delete" in op && op.delete === true) {
        tx.delete(op.agentId, op.key);
      } else if (op !== null && typeof op === "object" && "value" in op) {
        tx.write(op.agentId, op.key, op.value);
      } else {
        throw new TypeError("each operation needs a value or delete: true");
      }
    }
    const callOptions: CallOptions = begin.signal === undefined ? {} : { signal: begin.signal };
    const commitTs = await this.#commitOrResend(tx, callOptions, 1, { retries, backoffMs, maxBackoffMs });
    return { commitTs, duplicate: tx.duplicate };
  }

  /**
   * Commits `tx`; when the commit's connection broke, resends it (same
   * operations, same idempotency key) with backoff while attempts are left.
   * A ConflictError or any other error is thrown as it is.
   */
  async #commitOrResend(tx: Transaction, callOptions: CallOptions, attempt: number, retry: { retries: number; backoffMs: number; maxBackoffMs: number }): Promise<bigint> {
    try {
      return await tx.commit(callOptions);
    } catch (error) {
      if (!tx.commitOutcomeUnknown) throw error;
      // The commit may have applied: resend it as it was, never re-run fn.
      for (let resend = 1; ; resend++) {
        if (attempt + resend - 1 > retry.retries) throw error;
        const ceiling = Math.min(retry.maxBackoffMs, retry.backoffMs * 2 ** (attempt + resend - 2));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2), callOptions.signal);
        try {
          return await tx.resendCommit(callOptions);
        } catch (resendError) {
          if (!(resendError instanceof ConnectionError)) throw resendError;
        }
      }
    }
  }

  /**
   * Runs `fn` in a transaction: commits when `fn` resolves, aborts when it
   * throws. A transaction whose reads come only from `tx.get` (or that has
   * none) costs one RPC besides those reads: the Transact at commit. On
   * `ConflictError`, `ConnectionError` before the commit or `TXN_NOT_FOUND`
   * the whole attempt — including `fn`, with a fresh idempotency key — is
   * retried up to `retries` times with exponential backoff and jitter. A
   * commit whose connection broke is never re-run: the same operations are
   * resent with the same idempotency key (`resendCommit`), so if it had
   * applied the resend applies nothing and returns the original commitTs
   * (`duplicate: true`) together with the result of the `fn` run that was
   * committed; only a `ConflictError` on the resend (it had not applied) runs
   * `fn` again. `STORAGE_FULL` and other errors are not retried. `fn` must not commit or
   * abort the transaction itself, and should have no side effects besides the
   * transaction, since it may run more than once.
   *
   * @returns what `fn` returned, the commitTs and how many attempts it took
   */
  async withTransaction<T>(
    fn: (tx: Transaction) => Promise<T> | T,
    options: WithTransactionOptions = {},
  ): Promise<TransactionOutcome<T>> {
    const { retries = 3, backoffMs = 100, maxBackoffMs = 2000, ...begin } = options;
    requireNonNegativeInteger(retries, "retries");
    requireNonNegativeInteger(backoffMs, "backoffMs");
    requireNonNegativeInteger(maxBackoffMs, "maxBackoffMs");
    const callOptions: CallOptions = begin.signal === undefined ? {} : { signal: begin.signal };
    for (let attempt = 1; ; attempt++) {
      let tx: Transaction | undefined;
      try {
        // A fresh idempotency key per run of fn: a key is bound to one content.
        tx = await this.beginTransaction(begin);
        const result = await fn(tx);
        if (tx.state !== "open") {
          throw new TypeError("withTransaction commits the transaction itself: fn must not commit or abort it");
        }
        // A ConflictError on a resend means it had not applied: the loop runs fn again.
        const commitTs = await this.#commitOrResend(tx, callOptions, attempt, { retries, backoffMs, maxBackoffMs });
        return { result, commitTs, duplicate: tx.duplicate, attempts: attempt };
      } catch (error) {
        await tx?.[Symbol.asyncDispose]();
        if (attempt > retries || !isRetryable(error)) {
          throw error;
        }
      }
      const ceiling = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2), begin.signal);
    }
  }

  /** The latest committed state of a key; `exists: false` (version 0) for a key never written. */
  async getState(agentId: string, key: string, options?: NamespaceOptions): Promise<StateResult> {
    const request = { namespace: this.#namespace(options), agentId: requireName(agentId, "agentId"), key: requireName(key, "key") };
    return toStateResult(await this.#runner.unary(options, (rpc, o) => rpc.getState(request, o)));
  }

  /**
   * A key's state at a given version.
   *
   * @throws NotFoundError `VERSION_NOT_FOUND` when the key never had that version
   */
  async getStateAtVersion(agentId: string, key: string, version: Uint64Input, options?: NamespaceOptions): Promise<StateResult> {
    const request = {
      namespace: this.#namespace(options),
      agentId: requireName(agentId, "agentId"),
      key: requireName(key, "key"),
      version: toUint64(version, "version"),
    };
    return toStateResult(await this.#runner.unary(options, (rpc, o) => rpc.getStateAtVersion(request, o)));
  }

  /** A key's state as of a commit_ts (the latest version committed at or before it). */
  async getStateAsOf(agentId: string, key: string, commitTs: Uint64Input, options?: NamespaceOptions): Promise<StateResult> {
    const request = {
      namespace: this.#namespace(options),
      agentId: requireName(agentId, "agentId"),
      key: requireName(key, "key"),
      commitTs: toUint64(commitTs, "commitTs"),
    };
    return toStateResult(await this.#runner.unary(options, (rpc, o) => rpc.getStateAsOf(request, o)));
  }

  /** Every key of an agent that existed as of a commit_ts, in key order (fetched in pages). */
  async getAgentStateAsOf(agentId: string, commitTs: Uint64Input, options?: PageOptions): Promise<StateEntry[]> {
    return toArray(this.iterateAgentStateAsOf(agentId, commitTs, options));
  }

  /**
   * {@link getAgentStateAsOf} one page at a time: the pages of one commit_ts are one
   * consistent view (history does not change).
   */
  iterateAgentStateAsOf(agentId: string, commitTs: Uint64Input, options?: PageOptions): AsyncIterable<StateEntry> {
    const request = {
      namespace: this.#namespace(options),
      agentId: requireName(agentId, "agentId"),
      commitTs: toUint64(commitTs, "commitTs"),
      pageSize: pageSizeOf(options, DEFAULT_ENTRIES_PAGE),
    };
    return paged(async (pageToken) => {
      const response = await this.#runner.unary(options, (rpc, o) => rpc.getStateAsOf({ ...request, pageToken }, o));
      return { items: response.entries.map(toStateEntry), next: response.nextPageToken };
    });
  }

  /**
   * The agent's existing keys (deleted keys excluded), in key order; optionally only those
   * with a prefix (filtered by the daemon). Fetched in pages; see {@link iterateKeys}.
   */
  async listKeys(agentId: string, options?: ListKeysOptions): Promise<string[]> {
    return toArray(this.iterateKeys(agentId, options));
  }

  /**
   * {@link listKeys} one page at a time, for agents too large to hold in memory. Between
   * pages other commits may land: a key that exists throughout appears exactly once.
   *
   * @example
   * ```ts
   * for await (const key of client.iterateKeys("agent-1", { prefix: "tool/" })) console.log(key);
   * ```
   */
  iterateKeys(agentId: string, options?: ListKeysOptions): AsyncIterable<string> {
    const prefix = options?.prefix ?? "";
    if (typeof prefix !== "string") {
      throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
    }
    const request = { namespace: this.#namespace(options), agentId: requireName(agentId, "agentId"), prefix, pageSize: pageSizeOf(options, DEFAULT_KEYS_PAGE) };
    return paged(async (pageToken) => {
      const response = await this.#runner.unary(options, (rpc, o) => rpc.listKeys({ ...request, pageToken }, o));
      // A daemon older than the prefix field answers every key: filter here too.
      return { items: prefix === "" ? response.keys : response.keys.filter((key) => key.startsWith(prefix)), next: response.nextPageToken };
    });
  }

  /** The agent's existing records whose key starts with `prefix`, in key order (fetched in pages). */
  async scanPrefix(agentId: string, prefix: string, options?: PageOptions): Promise<StateEntry[]> {
    return toArray(this.iterateScan(agentId, prefix, options));
  }

  /** {@link scanPrefix} one page at a time (same consistency as {@link iterateKeys}). */
  iterateScan(agentId: string, prefix: string, options?: PageOptions): AsyncIterable<StateEntry> {
    if (typeof prefix !== "string") {
      throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
    }
    const request = { namespace: this.#namespace(options), agentId: requireName(agentId, "agentId"), prefix, pageSize: pageSizeOf(options, DEFAULT_ENTRIES_PAGE) };
    return paged(async (pageToken) => {
      const response = await this.#runner.unary(options, (rpc, o) => rpc.scanPrefix({ ...request, pageToken }, o));
      return { items: response.entries.map(toStateEntry), next: response.nextPageToken };
    });
  }

  /** The namespaces that hold history, in byte order (fetched in pages); see {@link iterateNamespaces}. */
  async listNamespaces(options?: ListNamespacesOptions): Promise<string[]> {
    return toArray(this.iterateNamespaces(options));
  }

  /** {@link listNamespaces} one page at a time. */
  iterateNamespaces(options?: ListNamespacesOptions): AsyncIterable<string> {
    const request = { prefix: prefixOf(options), pageSize: pageSizeOf(options, DEFAULT_ENTRIES_PAGE) };
    return paged(async (pageToken) => {
      const response = await this.#runner.unary(options, (rpc, o) => rpc.listNamespaces({ ...request, pageToken }, o));
      return { items: response.namespaces.map((n) => n.namespace), next: response.nextPageToken };
    });
  }

  /**
   * The namespace's agents (every agent that ever committed, also one whose keys are all
   * deleted), in byte order, with key counts and last commit; fetched in pages.
   */
  async listAgents(options?: ListAgentsOptions): Promise<AgentSummary[]> {
    return toArray(this.iterateAgents(options));
  }

  /**
   * {@link listAgents} one page at a time.
   *
   * @example
   * ```ts
   * for await (const agent of client.iterateAgents({ prefix: "planner-" })) console.log(agent.agentId, agent.keyCount);
   * ```
   */
  iterateAgents(options?: ListAgentsOptions): AsyncIterable<AgentSummary> {
    const request = { namespace: this.#namespace(options), prefix: prefixOf(options), pageSize: pageSizeOf(options, DEFAULT_AGENTS_PAGE) };
    return paged(async (pageToken) => {
      const response = await this.#runner.unary(options, (rpc, o) => rpc.listAgents({ ...request, pageToken }, o));
      return { items: response.agents.map(toAgentSummary), next: response.nextPageToken };
    });
  }

  /**
   * The agent's committed events in commit_ts order (optionally between
   * `startTs` and `endTs`, both inclusive), one per transaction. The stream
   * starts when iteration starts; leaving the loop early cancels it. The
   * events arrive in batches (ReplayBatches; Replay from a daemon without it)
   * and are handed over one at a time.
   *
   * @example
   * ```ts
   * for await (const event of client.replay("agent-1", { startTs: 10n })) {
   *   console.log(event.commitTs, event.operations);
   * }
   * ```
   */
  replay(agentId: string, options?: ReplayOptions): AsyncIterable<ReplayEvent> {
    const request = {
      namespace: this.#namespace(options),
      agentId: requireName(agentId, "agentId"),
      startTs: toOptionalUint64(options?.startTs, "startTs"),
      endTs: toOptionalUint64(options?.endTs, "endTs"),
      limit: options?.limit === undefined ? 0 : requirePositiveInteger(options.limit, "limit"),
      reverse: options?.reverse === true,
    };
    return this.#runner.batchedStream(options, (rpc, o) => rpc.replayBatches(request, o), (rpc, o) => rpc.replay(request, o), toReplayEvent);
  }

  /**
   * The agent's last `count` events, oldest first. The daemon reads only those, from the end
   * of the agent's history; a daemon older than Replay's `reverse` streams the whole history,
   * which is detected from the order and kept to the last `count` as it arrives.
   */
  async lastEvents(agentId: string, count: number, options?: NamespaceOptions): Promise<ReplayEvent[]> {
    requireNonNegativeInteger(count, "count");
    if (count === 0) return [];
    const events: ReplayEvent[] = [];
    let oldestFirst = false;
    for await (const event of this.replay(agentId, { ...options, limit: count, reverse: true })) {
      const previous = events[events.length - 1];
      if (previous !== undefined && !oldestFirst && event.commitTs > previous.commitTs) oldestFirst = true;
      events.push(event);
      if (oldestFirst) {
        if (events.length > count) events.shift();
      } else if (events.length === count && events.length > 1) {
        break;
      }
    }
    return oldestFirst ? events : events.reverse();
  }

  /**
   * Replays the agent's events from `startTs` (if given), then follows new
   * commits live, without end. Leaving the loop (or aborting `signal`, or
   * closing the client) cancels the stream. Uses WatchBatches (Watch from a
   * daemon without it); events are handed over one at a time.
   */
  watch(agentId: string, options?: WatchOptions): AsyncIterable<ReplayEvent> {
    const request = {
      namespace: this.#namespace(options),
      agentId: requireName(agentId, "agentId"),
      startTs: toOptionalUint64(options?.startTs, "startTs"),
    };
    return this.#runner.batchedStream(options, (rpc, o) => rpc.watchBatches(request, o), (rpc, o) => rpc.watch(request, o), toReplayEvent);
  }
}
