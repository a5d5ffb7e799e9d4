// statehouse.v1.StatehouseService over the engine: request validation,
// conversion between protobuf messages and engine types, error mapping.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { ListNamespacesRequest, ReplayEvent, ReplayRequest, StatehouseService, TransactRequest, WatchRequest } from "@statehouse/api";
import type { AgentEvent, AgentInfo, CommitOptions, OperationInput, Precondition, StateEntry, StateRecord } from "@statehouse/engine";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { DaemonMetrics } from "./daemon-metrics.js";
import type { EngineCalls } from "./rpc-threads/engine-proxy.js";
import { Paging } from "./paging.js";
import type { RequestValidator } from "./request-validator.js";
import { abortReason, invalidRequest, limitExceeded, toRpcError, unavailable, type ErrorLogger } from "./rpc-errors.js";
import type { StreamSlots } from "./stream-slots.js";
import type { TxnOperationCounter } from "./txn-operation-counter.js";

export interface StatehouseServiceDeps {
  engine: EngineCalls;
  validator: RequestValidator;
  metrics: DaemonMetrics;
  log: ErrorLogger;
  streams: StreamSlots;
  txnOps: TxnOperationCounter;
  maxOpenTransactions: number;
  version: { version: string; gitSha: string };
  /** Keeps the namespaces the call's caller may read (ListNamespaces); the identity when auth is off. */
  readableNamespaces: (ctx: HandlerContext, namespaces: string[]) => string[];
  /** When the daemon started, ms since the epoch (GetDaemonStatus). */
  startedAtMs: number;
  /** Aborted when shutdown begins: Watch streams end at once with UNAVAILABLE. */
  followSignal: AbortSignal;
}

type ReplayEventInit = MessageInitShape<GenMessage<ReplayEvent>>;

/** ReplayBatches / WatchBatches: at most this many events per message. */
export const MAX_BATCH_EVENTS = 1000;
/** ReplayBatches / WatchBatches: a batch's estimated encoded size stays within this (one larger event goes alone). */
export const MAX_BATCH_BYTES = 256 * 1024;

/**
 * An estimate of an event's protobuf size: its strings plus the JSON of its
 * values (a Struct's binary form is about as long as its JSON), plus field
 * overhead. Exact enough to keep a batch near MAX_BATCH_BYTES without
 * encoding every event twice.
 */
function estimatedEventBytes(event: AgentEvent): number {
  let bytes = 48 + event.txnId.length + event.namespace.length + event.agentId.length;
  for (const op of event.operations) bytes += 24 + op.key.length + (op.value === null ? 0 : JSON.stringify(op.value).length);
  return bytes;
}

const NOT_READY = Symbol("not ready");

/** Resolves NOT_READY once the microtasks queued now have run and the event loop turns (setImmediate). */
function loopTurn(): Promise<typeof NOT_READY> {
  return new Promise((resolve) => setImmediate(() => resolve(NOT_READY)));
}

/**
 * Groups an event stream into batches of at most MAX_BATCH_EVENTS events and
 * about MAX_BATCH_BYTES. A non-empty batch is also yielded once the event loop
 * turns while the next event is not ready (it waits for I/O or for a commit),
 * so a live event never waits for more to arrive.
 */
async function* batches(events: AsyncIterable<AgentEvent>): AsyncGenerator<AgentEvent[], void, undefined> {
  const it = events[Symbol.asyncIterator]();
  let batch: AgentEvent[] = [];
  let bytes = 0;
  // One loop turn per batch, started with its first event.
  let turn: Promise<typeof NOT_READY> | null = null;
  try {
    let pending = it.next();
    for (;;) {
      const next = turn === null ? await pending : await Promise.race([pending, turn]);
      if (next !== NOT_READY) {
        if (next.done === true) break;
        pending = it.next();
        const size = estimatedEventBytes(next.value);
        if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) {
          yield batch;
          batch = [];
          bytes = 0;
          turn = null;
        }
        batch.push(next.value);
        bytes += size;
        turn ??= loopTurn();
        if (batch.length < MAX_BATCH_EVENTS && bytes < MAX_BATCH_BYTES) continue;
      }
      yield batch;
      batch = [];
      bytes = 0;
      turn = null;
    }
    if (batch.length > 0) yield batch;
  } finally {
    await it.return?.();
  }
}

function stateFields(record: StateRecord): { value?: StateRecord["value"] & object; version: bigint; commitTs: bigint; exists: boolean } {
  return record.exists && record.value !== null
    ? { value: record.value, version: record.version, commitTs: record.commitTs, exists: true }
    : { version: record.version, commitTs: record.commitTs, exists: false };
}

function entryMessage(entry: StateEntry): { key: string; value: StateEntry["value"]; version: bigint; commitTs: bigint } {
  return { key: entry.key, value: entry.value, version: entry.version, commitTs: entry.commitTs };
}

/** ListAgents answers this many agents when page_size is 0 (each one's keys are counted). */
export const DEFAULT_AGENTS_PAGE = 100;

function agentMessage(agent: AgentInfo) {
  return {
    namespace: agent.namespace,
    agentId: agent.agentId,
    keyCount: BigInt(agent.keyCount),
    lastCommitTs: agent.lastCommitTs,
    ...(agent.lastCommittedAtMs > 0 ? { lastCommittedAt: timestampFromMs(agent.lastCommittedAtMs) } : {}),
  };
}

function eventMessage(event: AgentEvent): ReplayEventInit {
  return {
    txnId: event.txnId,
    commitTs: event.commitTs,
    operations: event.operations.map((op) => (op.value === null ? { key: op.key, version: op.version } : { key: op.key, value: op.value, version: op.version })),
    // 0 = unknown: history imported from the original daemon, which kept no commit time (import-original).
    ...(event.committedAtMs > 0 ? { committedAt: timestampFromMs(event.committedAtMs) } : {}),
    namespace: event.namespace,
    agentId: event.agentId,
  };
}

/**
 * The StatehouseService implementation. Its unary methods need no
 * HandlerContext (none reads one), so the fast path (src/fast-path) calls the
 * same functions without creating one.
 */
export type StatehouseServiceImpl = ReturnType<typeof createStatehouseService>;

/** Builds the StatehouseService implementation. */
export function createStatehouseService(deps: StatehouseServiceDeps) {
  const { engine, validator, metrics, log, streams, txnOps } = deps;
  const paging = new Paging(validator.limits);

  function replayEvents(req: ReplayRequest): (signal: AbortSignal) => AsyncIterable<AgentEvent> {
    // Validation errors are ConnectErrors with their detail already.
    const { namespace, agentId } = validator.agent(req);
    return (signal) =>
      engine.replay(namespace, agentId, {
        signal,
        ...(req.startTs === undefined ? {} : { startTs: req.startTs }),
        ...(req.endTs === undefined ? {} : { endTs: req.endTs }),
        ...(req.limit === 0 ? {} : { limit: req.limit }),
        ...(req.reverse ? { reverse: true } : {}),
      });
  }

  function watchEvents(req: WatchRequest): (signal: AbortSignal) => AsyncIterable<AgentEvent> {
    const { namespace, agentId } = validator.agent(req);
    return (signal) => engine.watch(namespace, agentId, { signal, ...(req.startTs === undefined ? {} : { startTs: req.startTs }) });
  }

  function unary<I, O>(procedure: string, fn: (req: I) => Promise<O> | O): (req: I, _ctx?: HandlerContext) => Promise<O> {
    return async (req) => {
      metrics.rpcRequest(procedure);
      try {
        return await fn(req);
      } catch (error) {
        throw toRpcError(error, log, procedure);
      }
    };
  }

  /**
   * Streams engine events. A stream cut by the call's deadline or by shutdown
   * ends with that error (DEADLINE_EXCEEDED, UNAVAILABLE), never with OK.
   */
  async function* streamEvents(procedure: string, ctx: HandlerContext, events: (signal: AbortSignal) => AsyncIterable<AgentEvent>, onEvent: () => void, follow: boolean) {
    yield* followStream(procedure, ctx, follow, async function* (signal) {
      for await (const event of events(signal)) {
        onEvent();
        yield eventMessage(event);
      }
    });
  }

  /** Streams engine events in batches (ReplayBatches, WatchBatches); ends as streamEvents does. */
  async function* streamBatches(procedure: string, ctx: HandlerContext, events: (signal: AbortSignal) => AsyncIterable<AgentEvent>, onEvents: (n: number) => void, follow: boolean) {
    yield* followStream(procedure, ctx, follow, async function* (signal) {
      for await (const batch of batches(events(signal))) {
        onEvents(batch.length);
        yield { events: batch.map(eventMessage) };
      }
    });
  }

  async function* followStream<T>(procedure: string, ctx: HandlerContext, follow: boolean, messages: (signal: AbortSignal) => AsyncIterable<T>) {
    metrics.rpcRequest(procedure);
    const signal = follow ? AbortSignal.any([ctx.signal, deps.followSignal]) : ctx.signal;
    try {
      using _slot = streams.acquire();
      yield* messages(signal);
    } catch (error) {
      if (!signal.aborted) throw toRpcError(error, log, procedure);
    }
    if (follow && deps.followSignal.aborted) throw unavailable();
    if (signal.aborted) throw abortReason(signal);
    // A Watch only ends by itself when the engine closes.
    if (follow) throw unavailable();
  }

  function transactOptions(req: TransactRequest, stagedOps: number): CommitOptions {
    const operations: OperationInput[] = req.operations.map((op, i) => {
      const ref = validator.ref(op, `operations[${i}].`);
      if (op.delete) {
        if (op.value !== undefined) throw invalidRequest(`operations[${i}].value`, `operations[${i}] is a delete and must not carry a value`);
        return { ...ref, value: null };
      }
      if (op.value === undefined) throw invalidRequest(`operations[${i}].value`, `operations[${i}] needs a value (or delete=true)`);
      return { ...ref, value: validator.value(op.value, `operations[${i}].value`) };
    });
    const preconditions: Precondition[] = req.preconditions.map((p, i) => {
      const ref = validator.ref(p, `preconditions[${i}].`);
      if (p.expectedVersion === undefined && !p.mustNotExist) {
        throw invalidRequest(`preconditions[${i}]`, `preconditions[${i}] needs expected_version or must_not_exist`);
      }
      return {
        ...ref,
        ...(p.expectedVersion === undefined ? {} : { expectedVersion: p.expectedVersion }),
        ...(p.mustNotExist ? { mustNotExist: true } : {}),
      };
    });
    validator.operationCount(stagedOps + operations.length + preconditions.length);
    const idempotencyKey = validator.idempotencyKey(req.idempotencyKey);
    return { operations, preconditions, ...(idempotencyKey === "" ? {} : { idempotencyKey }) };
  }

  const impl = {
    health: unary("Health", () => ({ status: "ok" })),

    version: unary("Version", () => ({ version: deps.version.version, gitSha: deps.version.gitSha })),

    beginTransaction: unary("BeginTransaction", async (req) => {
      const timeoutMs = validator.timeoutMs(req.timeoutMs);
      const open = (await engine.stats()).openTransactions;
      if (open >= deps.maxOpenTransactions) {
        throw limitExceeded(
          "max_open_transactions",
          `${open} transactions are open: the max_open_transactions limit is ${deps.maxOpenTransactions} (STATEHOUSE_MAX_OPEN_TRANSACTIONS)`,
        );
      }
      const txnId = await engine.begin(timeoutMs === undefined ? {} : { timeoutMs });
      txnOps.begun(txnId, timeoutMs);
      return { txnId };
    }),

    write: unary("Write", async (req) => {
      const txnId = validator.txnId(req.txnId);
      const ref = validator.ref(req);
      const value = validator.value(req.value);
      validator.operationCount(txnOps.peek(txnId) + 1);
      await engine.stageWrite(txnId, ref, value);
      txnOps.add(txnId);
      return {};
    }),

    delete: unary("Delete", async (req) => {
      const txnId = validator.txnId(req.txnId);
      const ref = validator.ref(req);
      validator.operationCount(txnOps.peek(txnId) + 1);
      await engine.stageDelete(txnId, ref);
      txnOps.add(txnId);
      return {};
    }),

    commit: unary("Commit", async (req) => {
      const txnId = validator.txnId(req.txnId);
      txnOps.finished(txnId);
      const result = await engine.commit(txnId);
      return { commitTs: result.commitTs };
    }),

    abort: unary("Abort", async (req) => {
      const txnId = validator.txnId(req.txnId);
      await engine.abort(txnId);
      txnOps.finished(txnId);
      return {};
    }),

    getState: unary("GetState", async (req) => {
      const ref = validator.ref(req);
      metrics.read("get_state");
      return stateFields(await engine.get(ref));
    }),

    getStateAtVersion: unary("GetStateAtVersion", async (req) => {
      const ref = validator.ref(req);
      metrics.read("get_state_at_version");
      return stateFields(await engine.getAtVersion(ref, req.version));
    }),

    listKeys: unary("ListKeys", async (req) => {
      const { namespace, agentId } = validator.agent(req);
      const prefix = validator.prefix(req.prefix);
      const plan = paging.plan("keys", req, [namespace, agentId, prefix], "ListKeys");
      metrics.read("list_keys");
      const page = await engine.listKeysPage(namespace, agentId, { ...plan.options, prefix });
      return { keys: page.items, nextPageToken: plan.finish(page) };
    }),

    scanPrefix: unary("ScanPrefix", async (req) => {
      const { namespace, agentId } = validator.agent(req);
      const prefix = validator.prefix(req.prefix);
      const plan = paging.plan("entries", req, [namespace, agentId, prefix], "ScanPrefix");
      metrics.read("scan_prefix");
      const page = await engine.scanPrefixPage(namespace, agentId, prefix, plan.options);
      return { entries: page.items.map(entryMessage), nextPageToken: plan.finish(page) };
    }),

    async *replay(req, ctx) {
      yield* streamEvents("Replay", ctx, replayEvents(req), () => metrics.replayEvent(), false);
    },

    async *replayBatches(req, ctx) {
      yield* streamBatches("ReplayBatches", ctx, replayEvents(req), (n) => metrics.replayEvent(n), false);
    },

    transact: unary("Transact", async (req) => {
      const txnId = req.txnId === undefined || req.txnId === "" ? null : validator.txnId(req.txnId);
      const options = transactOptions(req, txnId === null ? 0 : txnOps.peek(txnId));
      if (txnId !== null) txnOps.finished(txnId);
      const result = txnId === null ? await engine.transact(options) : await engine.commit(txnId, options);
      return { commitTs: result.commitTs, duplicate: result.duplicate };
    }),

    async *watch(req, ctx) {
      yield* streamEvents("Watch", ctx, watchEvents(req), () => metrics.watchEvent(), true);
    },

    async *watchBatches(req, ctx) {
      yield* streamBatches("WatchBatches", ctx, watchEvents(req), (n) => metrics.watchEvent(n), true);
    },

    // Not on the fast path: it needs the caller (the namespaces it may read).
    async listNamespaces(req: ListNamespacesRequest, ctx: HandlerContext) {
      return unary("ListNamespaces", async (r: ListNamespacesRequest) => {
        const prefix = validator.prefix(r.prefix);
        const plan = paging.plan("entries", { pageSize: r.pageSize, pageToken: r.pageToken }, [prefix], "ListNamespaces", { alwaysPaged: true });
        metrics.read("list_namespaces");
        const page = await engine.listNamespaces({ ...plan.options, ...(prefix === "" ? {} : { prefix }) });
        // A page may hold fewer (or no) readable namespaces than it read: next_page_token says whether more follow.
        const readable = deps.readableNamespaces(ctx, page.items.map((n) => n.namespace));
        return { namespaces: readable.map((namespace) => ({ namespace })), nextPageToken: plan.finish(page) };
      })(req);
    },

    listAgents: unary("ListAgents", async (req) => {
      const namespace = validator.namespace(req.namespace);
      const prefix = validator.prefix(req.prefix);
      const pageSize = req.pageSize === 0 ? DEFAULT_AGENTS_PAGE : req.pageSize;
      const plan = paging.plan("entries", { pageSize, pageToken: req.pageToken }, [namespace, prefix], "ListAgents", { alwaysPaged: true });
      metrics.read("list_agents");
      const page = await engine.listAgents(namespace, { ...plan.options, ...(prefix === "" ? {} : { prefix }) });
      return { agents: page.items.map(agentMessage), nextPageToken: plan.finish(page) };
    }),

    getDaemonStatus: unary("GetDaemonStatus", async () => {
      const stats = await engine.stats();
      const recovery = engine.recovery;
      return {
        version: deps.version.version,
        gitSha: deps.version.gitSha,
        commitTs: stats.commitTs,
        startedAt: timestampFromMs(deps.startedAtMs),
        recovery: {
          storage: recovery.storage,
          ...(recovery.snapshotTs === null ? {} : { snapshotTs: recovery.snapshotTs }),
          eventsReplayed: BigInt(recovery.eventsReplayed),
          durationMs: BigInt(Math.round(recovery.durationMs)),
          commitTs: recovery.commitTs,
          notes: recovery.notes,
        },
        openTransactions: BigInt(stats.openTransactions),
        committedTransactions: BigInt(stats.committedTransactions ?? 0),
        groupCommits: BigInt(stats.groupCommits ?? 0),
        watchersWaiting: BigInt(stats.watchersWaiting ?? 0),
        writable: stats.writable !== false,
        haltReason: stats.haltReason ?? "",
        rssBytes: BigInt(process.memoryUsage.rss()),
      };
    }),

    getStateAsOf: unary("GetStateAsOf", async (req) => {
      const { namespace, agentId } = validator.agent(req);
      metrics.read("get_state_as_of");
      if (req.key === undefined) {
        const plan = paging.plan("entries", req, [namespace, agentId, String(req.commitTs)], "GetStateAsOf");
        const page = await engine.getAgentAsOfPage(namespace, agentId, req.commitTs, plan.options);
        return { entries: page.items.map(entryMessage), nextPageToken: plan.finish(page) };
      }
      const key = validator.key(req.key);
      return stateFields(await engine.getAsOf({ namespace, agentId, key }, req.commitTs));
    }),
  } satisfies ServiceImpl<typeof StatehouseService>;
  return impl;
}
