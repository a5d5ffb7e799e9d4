// statehouse.v1.StatehouseService over the engine: request validation,
// conversion between protobuf messages and engine types, error mapping.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { ReplayEvent, StatehouseService, TransactRequest } from "@statehouse/api";
import type { AgentEvent, CommitOptions, Engine, OperationInput, Precondition, StateEntry, StateRecord } from "@statehouse/engine";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { DaemonMetrics } from "./daemon-metrics.js";
import { Paging } from "./paging.js";
import type { RequestValidator } from "./request-validator.js";
import { abortReason, invalidRequest, limitExceeded, toRpcError, unavailable, type ErrorLogger } from "./rpc-errors.js";
import type { StreamSlots } from "./stream-slots.js";
import type { TxnOperationCounter } from "./txn-operation-counter.js";

export interface StatehouseServiceDeps {
  engine: Engine;
  validator: RequestValidator;
  metrics: DaemonMetrics;
  log: ErrorLogger;
  streams: StreamSlots;
  txnOps: TxnOperationCounter;
  maxOpenTransactions: number;
  version: { version: string; gitSha: string };
  /** Aborted when shutdown begins: Watch streams end at once with UNAVAILABLE. */
  followSignal: AbortSignal;
}

type ReplayEventInit = MessageInitShape<GenMessage<ReplayEvent>>;

function stateFields(record: StateRecord): { value?: StateRecord["value"] & object; version: bigint; commitTs: bigint; exists: boolean } {
  return record.exists && record.value !== null
    ? { value: record.value, version: record.version, commitTs: record.commitTs, exists: true }
    : { version: record.version, commitTs: record.commitTs, exists: false };
}

function entryMessage(entry: StateEntry): { key: string; value: StateEntry["value"]; version: bigint; commitTs: bigint } {
  return { key: entry.key, value: entry.value, version: entry.version, commitTs: entry.commitTs };
}

function eventMessage(event: AgentEvent): ReplayEventInit {
  return {
    txnId: event.txnId,
    commitTs: event.commitTs,
    operations: event.operations.map((op) => (op.value === null ? { key: op.key, version: op.version } : { key: op.key, value: op.value, version: op.version })),
    committedAt: timestampFromMs(event.committedAtMs),
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

  function unary<I, O>(procedure: string, fn: (req: I) => Promise<O> | O): (req: I, _ctx?: HandlerContext) => Promise<O> {
    return async (req) => {
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
    const signal = follow ? AbortSignal.any([ctx.signal, deps.followSignal]) : ctx.signal;
    try {
      using _slot = streams.acquire();
      for await (const event of events(signal)) {
        onEvent();
        yield eventMessage(event);
      }
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

    beginTransaction: unary("BeginTransaction", (req) => {
      const timeoutMs = validator.timeoutMs(req.timeoutMs);
      const open = engine.stats().openTransactions;
      if (open >= deps.maxOpenTransactions) {
        throw limitExceeded(
          "max_open_transactions",
          `${open} transactions are open: the max_open_transactions limit is ${deps.maxOpenTransactions} (STATEHOUSE_MAX_OPEN_TRANSACTIONS)`,
        );
      }
      const txnId = engine.begin(timeoutMs === undefined ? {} : { timeoutMs });
      txnOps.begun(txnId, timeoutMs);
      return { txnId };
    }),

    write: unary("Write", (req) => {
      const txnId = validator.txnId(req.txnId);
      const ref = validator.ref(req);
      const value = validator.value(req.value);
      validator.operationCount(txnOps.peek(txnId) + 1);
      engine.stageWrite(txnId, ref, value);
      txnOps.add(txnId);
      return {};
    }),

    delete: unary("Delete", (req) => {
      const txnId = validator.txnId(req.txnId);
      const ref = validator.ref(req);
      validator.operationCount(txnOps.peek(txnId) + 1);
      engine.stageDelete(txnId, ref);
      txnOps.add(txnId);
      return {};
    }),

    commit: unary("Commit", async (req) => {
      const txnId = validator.txnId(req.txnId);
      txnOps.finished(txnId);
      const result = await engine.commit(txnId);
      return { commitTs: result.commitTs };
    }),

    abort: unary("Abort", (req) => {
      const txnId = validator.txnId(req.txnId);
      engine.abort(txnId);
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
      // Validation errors are ConnectErrors with their detail already.
      const { namespace, agentId } = validator.agent(req);
      yield* streamEvents(
        "Replay",
        ctx,
        (signal) =>
          engine.replay(namespace, agentId, {
            signal,
            ...(req.startTs === undefined ? {} : { startTs: req.startTs }),
            ...(req.endTs === undefined ? {} : { endTs: req.endTs }),
            ...(req.limit === 0 ? {} : { limit: req.limit }),
            ...(req.reverse ? { reverse: true } : {}),
          }),
        () => metrics.replayEvent(),
        false,
      );
    },

    transact: unary("Transact", async (req) => {
      const txnId = req.txnId === undefined || req.txnId === "" ? null : validator.txnId(req.txnId);
      const options = transactOptions(req, txnId === null ? 0 : txnOps.peek(txnId));
      if (txnId !== null) txnOps.finished(txnId);
      const result = txnId === null ? await engine.transact(options) : await engine.commit(txnId, options);
      return { commitTs: result.commitTs, duplicate: result.duplicate };
    }),

    async *watch(req, ctx) {
      // Validation errors are ConnectErrors with their detail already.
      const { namespace, agentId } = validator.agent(req);
      yield* streamEvents(
        "Watch",
        ctx,
        (signal) => engine.watch(namespace, agentId, { signal, ...(req.startTs === undefined ? {} : { startTs: req.startTs }) }),
        () => metrics.watchEvent(),
        true,
      );
    },

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
