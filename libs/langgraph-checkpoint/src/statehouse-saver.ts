// LangGraph.js checkpointer on Statehouse: a BaseCheckpointSaver whose every
// write (put, putWrites) is one Statehouse transaction.
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  TASKS,
  WRITES_IDX_MAP,
  compareWritesSortKeys,
  getCheckpointId,
  maxChannelVersion,
  writesSortKey,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import type { JsonObject, StatehouseClient, TransactOperation } from "@statehouse/sdk";
import { Layout } from "./layout.js";
import { asSerialized, dumpValue, loadValue } from "./serialized.js";

export interface StatehouseSaverOptions {
  /** Statehouse namespace for everything the saver writes (default: the client's). */
  namespace?: string;
  /**
   * Prefix of the agent ids the saver uses (default `"langgraph/"`): thread T is
   * agent `<prefix>thread/T`, the thread index is agent `<prefix>threads`.
   */
  agentPrefix?: string;
  /** Serializer (default: LangGraph's JsonPlusSerializer). */
  serde?: SerializerProtocol;
  /**
   * Most operations `deleteThread` puts in one transaction (default 5 000, under
   * the daemon's default `max_operations_per_txn` of 10 000).
   */
  deleteBatchSize?: number;
}

const DEFAULT_AGENT_PREFIX = "langgraph/";
const DEFAULT_DELETE_BATCH = 5_000;
/** Checkpoints fetched at once while `list` walks a thread. */
const LIST_PAGE = 16;

interface StoredCheckpoint {
  ns: string;
  id: string;
  parentId: string | undefined;
  record: JsonObject;
}

interface StoredWrite {
  taskId: string;
  channel: string;
  taskPath: string;
  idx: number;
  record: JsonObject;
}

function threadIdOf(config: RunnableConfig): string | undefined {
  const value: unknown = config.configurable?.["thread_id"];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" && typeof value !== "number") {
    throw new TypeError(`configurable.thread_id must be a string (got ${typeof value})`);
  }
  return String(value);
}

function requireThreadId(config: RunnableConfig, what: string): string {
  const threadId = threadIdOf(config);
  if (threadId === undefined) {
    throw new Error(
      `Failed to ${what}: the RunnableConfig has no "thread_id" in its "configurable" property; ` +
        `pass one, e.g. graph.invoke(input, { configurable: { thread_id: "my-thread" } })`,
    );
  }
  return threadId;
}

function namespaceOf(config: RunnableConfig): string | undefined {
  const value: unknown = config.configurable?.["checkpoint_ns"];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new TypeError(`configurable.checkpoint_ns must be a string (got ${typeof value})`);
  return value;
}

function text(record: JsonObject, field: string): string {
  const value = record[field];
  if (typeof value !== "string") throw new Error(`stored record has no string field "${field}"`);
  return value;
}

/**
 * A LangGraph.js checkpointer that keeps threads in Statehouse.
 *
 * ```ts
 * const saver = new StatehouseSaver(new Statehouse({ url: "http://localhost:50051" }));
 * const graph = workflow.compile({ checkpointer: saver });
 * ```
 */
export class StatehouseSaver extends BaseCheckpointSaver {
  readonly client: StatehouseClient;
  readonly layout: Layout;
  readonly #ns: { namespace?: string };
  readonly #deleteBatchSize: number;

  constructor(client: StatehouseClient, options: StatehouseSaverOptions = {}) {
    super(options.serde);
    this.client = client;
    this.layout = new Layout(options.agentPrefix ?? DEFAULT_AGENT_PREFIX);
    this.#ns = options.namespace === undefined ? {} : { namespace: options.namespace };
    this.#deleteBatchSize = options.deleteBatchSize ?? DEFAULT_DELETE_BATCH;
    if (!Number.isSafeInteger(this.#deleteBatchSize) || this.#deleteBatchSize < 2) {
      throw new TypeError(`deleteBatchSize must be an integer >= 2 (got ${String(options.deleteBatchSize)})`);
    }
  }

  /** The Statehouse agent holding thread `threadId` (replay or watch it to follow the thread). */
  threadAgent(threadId: string): string {
    return this.layout.threadAgent(threadId);
  }

  override async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = threadIdOf(config);
    if (threadId === undefined) return undefined;
    const ns = namespaceOf(config) ?? "";
    const agent = this.layout.threadAgent(threadId);
    let checkpointId = getCheckpointId(config);
    if (checkpointId === "") {
      const keys = await this.client.listKeys(agent, { ...this.#ns, prefix: this.layout.checkpointPrefix(ns) });
      const latest = keys.at(-1);
      if (latest === undefined) return undefined;
      checkpointId = this.layout.parseCheckpointKey(latest)[1];
    }
    const state = await this.client.getState(agent, this.layout.checkpointKey(ns, checkpointId), this.#ns);
    if (state.value === null) return undefined;
    return this.#tuple(threadId, { ns, id: checkpointId, parentId: parentOf(state.value), record: state.value });
  }

  override async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let remaining = options.limit;
    if (remaining !== undefined && remaining <= 0) return;
    const ns = namespaceOf(config);
    const onlyId = getCheckpointId(config);
    const beforeId = before === undefined ? "" : getCheckpointId(before);
    const one = threadIdOf(config);
    const threads = one !== undefined ? [one] : await this.client.listKeys(this.layout.indexAgent, this.#ns);
    for (const threadId of threads) {
      const agent = this.layout.threadAgent(threadId);
      const keys = await this.client.listKeys(agent, { ...this.#ns, prefix: this.layout.checkpointPrefix(ns) });
      const ids = keys
        .map((key) => this.layout.parseCheckpointKey(key))
        .filter(([, id]) => (onlyId === "" || id === onlyId) && (beforeId === "" || id < beforeId))
        .sort((a, b) => (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0));
      for (let start = 0; start < ids.length; start += LIST_PAGE) {
        const page = await Promise.all(
          ids.slice(start, start + LIST_PAGE).map(async ([cpNs, id]) => {
            const state = await this.client.getState(agent, this.layout.checkpointKey(cpNs, id), this.#ns);
            return state.value === null ? undefined : { ns: cpNs, id, parentId: parentOf(state.value), record: state.value };
          }),
        );
        for (const stored of page) {
          if (stored === undefined) continue; // deleted meanwhile
          if (filter !== undefined) {
            const metadata = (await loadValue(this.serde, asSerialized(stored.record["metadata"], "metadata"))) as Record<string, unknown>;
            if (!Object.entries(filter).every(([key, value]) => metadata[key] === value)) continue;
          }
          yield await this.#tuple(threadId, stored);
          if (remaining !== undefined && --remaining <= 0) return;
        }
      }
    }
  }

  override async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const threadId = requireThreadId(config, "put checkpoint");
    const ns = namespaceOf(config) ?? "";
    const parentId = getCheckpointId(config);
    const agent = this.layout.threadAgent(threadId);
    const { channel_values: values, ...rest } = checkpoint;
    const ops: TransactOperation[] = [];
    for (const [channel, version] of Object.entries(newVersions)) {
      const blob = Object.hasOwn(values, channel) ? await dumpValue(this.serde, values[channel]) : { type: "empty", text: "" };
      ops.push({ agentId: agent, key: this.layout.blobKey(ns, channel, version), value: { channel, version: String(version), ...blob } });
    }
    const record: JsonObject = {
      checkpointId: checkpoint.id,
      parentId: parentId === "" ? null : parentId,
      ts: checkpoint.ts,
      source: metadata.source,
      step: metadata.step,
      checkpoint: await dumpValue(this.serde, { ...rest, channel_values: {} }),
      metadata: await dumpValue(this.serde, metadata),
    };
    ops.push({ agentId: agent, key: this.layout.checkpointKey(ns, checkpoint.id), value: record });
    ops.push({ agentId: this.layout.indexAgent, key: threadId, value: { threadId, agentId: agent } });
    await this.client.transact(ops, this.#ns);
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpoint.id } };
  }

  override async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    const threadId = requireThreadId(config, "put writes");
    const checkpointId = getCheckpointId(config);
    if (checkpointId === "") throw new Error('Failed to put writes: the RunnableConfig has no "checkpoint_id" in its "configurable" property');
    const ns = namespaceOf(config) ?? "";
    const agent = this.layout.threadAgent(threadId);
    const prepared = await Promise.all(
      writes.map(async ([channel, value], i) => {
        const idx = WRITES_IDX_MAP[channel] ?? i;
        return {
          key: this.layout.writeKey(ns, checkpointId, taskId, idx),
          idx,
          value: { taskId, channel, taskPath: taskPath ?? "", idx, value: await dumpValue(this.serde, value) } satisfies JsonObject,
        };
      }),
    );
    // One transaction. A regular write (idx >= 0) already stored is kept (the
    // first attempt of a task wins); special writes (errors, interrupts) replace.
    await this.client.withTransaction(
      async (tx) => {
        const existing = await Promise.all(prepared.map((w) => (w.idx >= 0 ? tx.get(agent, w.key) : undefined)));
        prepared.forEach((w, i) => {
          if (existing[i]?.exists !== true) tx.write(agent, w.key, w.value);
        });
      },
      this.#ns,
    );
  }

  override async deleteThread(threadId: string): Promise<void> {
    const agent = this.layout.threadAgent(String(threadId));
    const keys = await this.client.listKeys(agent, this.#ns);
    // Deleting is the one write that may span transactions (past the batch
    // size); the index entry goes in the last, so a thread half deleted by a
    // crash is still listed and a second call finishes it.
    const ops: TransactOperation[] = keys.map((key) => ({ agentId: agent, key, delete: true }));
    ops.push({ agentId: this.layout.indexAgent, key: String(threadId), delete: true });
    for (let start = 0; start < ops.length; start += this.#deleteBatchSize) {
      await this.client.transact(ops.slice(start, start + this.#deleteBatchSize), this.#ns);
    }
  }

  async #tuple(threadId: string, stored: StoredCheckpoint): Promise<CheckpointTuple> {
    const agent = this.layout.threadAgent(threadId);
    const { ns, id, parentId, record } = stored;
    const [checkpoint, metadata, pendingWrites] = await Promise.all([
      this.#loadCheckpoint(agent, ns, record),
      loadValue(this.serde, asSerialized(record["metadata"], "metadata")) as Promise<CheckpointMetadata>,
      this.#pendingWrites(agent, ns, id),
    ]);
    if (checkpoint.v < 4 && parentId !== undefined) await this.#migratePendingSends(checkpoint, agent, ns, parentId);
    const tuple: CheckpointTuple = {
      config: { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: id } },
      checkpoint,
      metadata,
      pendingWrites,
    };
    if (parentId !== undefined) {
      tuple.parentConfig = { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: parentId } };
    }
    return tuple;
  }

  async #loadCheckpoint(agent: string, ns: string, record: JsonObject): Promise<Checkpoint> {
    const checkpoint = (await loadValue(this.serde, asSerialized(record["checkpoint"], "checkpoint"))) as Checkpoint;
    const channelValues: Record<string, unknown> = {};
    await Promise.all(
      Object.entries(checkpoint.channel_versions).map(async ([channel, version]) => {
        const blob = await this.client.getState(agent, this.layout.blobKey(ns, channel, version), this.#ns);
        if (blob.value === null || blob.value["type"] === "empty") return;
        channelValues[channel] = await loadValue(this.serde, asSerialized(blob.value, `blob ${channel}@${version}`));
      }),
    );
    // Keep the channels in the checkpoint's order, whatever order the reads finished in.
    checkpoint.channel_values = Object.fromEntries(
      Object.keys(checkpoint.channel_versions).filter((c) => Object.hasOwn(channelValues, c)).map((c) => [c, channelValues[c]]),
    );
    return checkpoint;
  }

  /** The pending writes of one checkpoint, in `writesSortKey` order. */
  async #storedWrites(agent: string, ns: string, checkpointId: string): Promise<StoredWrite[]> {
    const entries = await this.client.scanPrefix(agent, this.layout.writesPrefix(ns, checkpointId), this.#ns);
    const writes = entries.map(({ value }) => ({
      taskId: text(value, "taskId"),
      channel: text(value, "channel"),
      taskPath: text(value, "taskPath"),
      idx: Number(value["idx"]),
      record: value,
    }));
    return writes.sort((a, b) =>
      compareWritesSortKeys(writesSortKey(a.taskPath, a.taskId, a.idx), writesSortKey(b.taskPath, b.taskId, b.idx)),
    );
  }

  async #pendingWrites(agent: string, ns: string, checkpointId: string): Promise<CheckpointPendingWrite[]> {
    const writes = await this.#storedWrites(agent, ns, checkpointId);
    return Promise.all(
      writes.map(async (w): Promise<CheckpointPendingWrite> => [w.taskId, w.channel, await loadValue(this.serde, asSerialized(w.record["value"], "write"))]),
    );
  }

  /** Checkpoints before format v4 kept pending sends in the parent's TASKS writes. */
  async #migratePendingSends(checkpoint: Checkpoint, agent: string, ns: string, parentId: string): Promise<void> {
    const writes = (await this.#storedWrites(agent, ns, parentId)).filter((w) => w.channel === TASKS);
    const sends = await Promise.all(writes.map((w) => loadValue(this.serde, asSerialized(w.record["value"], "write"))));
    checkpoint.channel_values[TASKS] = sends;
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] = versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }
}

function parentOf(record: JsonObject): string | undefined {
  const parent = record["parentId"];
  return typeof parent === "string" ? parent : undefined;
}
