// OpenAI Agents SDK (TypeScript) conversation memory on Statehouse: a
// `Session` whose every change is one transaction and whose every read is one
// consistent snapshot, so concurrent writers and readers never lose or tear
// a batch of items.
import type { AgentInputItem, Session } from "@openai/agents";
import { StatehouseError, type JsonObject, type StatehouseClient, type TransactOperation } from "@statehouse/sdk";

export interface StatehouseSessionOptions {
  /** The session's id (default: a random UUID). */
  sessionId?: string;
  /** Statehouse namespace of the session's records (default: the client's). */
  namespace?: string;
  /** Prefix of the agent id holding the session (default `"openai-agents/session/"`). */
  agentPrefix?: string;
  /**
   * Attempts for a change that lost a race with another writer of the same
   * session (each attempt re-reads; default 20).
   */
  retries?: number;
  /** Most operations `clearSession` commits at once (default 5 000). */
  deleteBatchSize?: number;
}

const DEFAULT_AGENT_PREFIX = "openai-agents/session/";
const HEAD = "head";
/** Item keys sort by position: `item/` and 16 zero-padded digits. */
const ITEM_PREFIX = "item/";

function itemKey(position: number): string {
  return `${ITEM_PREFIX}${String(position).padStart(16, "0")}`;
}

/** `[start, next)`: the positions of the items the session holds. */
interface Head {
  start: number;
  next: number;
}

function headOf(value: JsonObject | null): Head {
  if (value === null) return { start: 0, next: 0 };
  return { start: Number(value["start"]), next: Number(value["next"]) };
}

function itemOf(value: JsonObject | null, key: string): AgentInputItem {
  const item = value?.["item"];
  if (item === undefined || item === null || typeof item !== "object") throw new Error(`session record ${key} holds no item`);
  return item as unknown as AgentInputItem;
}

/** An item as JSON (`undefined` fields dropped), checked to be an object. */
function toJson(item: AgentInputItem): JsonObject {
  const json: unknown = JSON.parse(JSON.stringify(item));
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TypeError("a session item must be an object (an AgentInputItem)");
  }
  return json as JsonObject;
}

/**
 * A `Session` of `@openai/agents` kept in Statehouse: one agent per session
 * (`session.agentId`; `replay` it for the conversation's history).
 *
 * ```ts
 * const session = new StatehouseSession(new Statehouse({ url: "http://localhost:50051" }), { sessionId: "user-42" });
 * await run(agent, "Hello", { session });
 * ```
 */
export class StatehouseSession implements Session {
  readonly client: StatehouseClient;
  readonly sessionId: string;
  /** The Statehouse agent holding this session. */
  readonly agentId: string;
  readonly #ns: { namespace?: string };
  readonly #retries: number;
  readonly #deleteBatchSize: number;

  constructor(client: StatehouseClient, options: StatehouseSessionOptions = {}) {
    this.client = client;
    this.sessionId = options.sessionId ?? crypto.randomUUID();
    if (this.sessionId === "") throw new TypeError("sessionId must not be empty");
    this.agentId = `${options.agentPrefix ?? DEFAULT_AGENT_PREFIX}${this.sessionId}`;
    this.#ns = options.namespace === undefined ? {} : { namespace: options.namespace };
    this.#retries = options.retries ?? 20;
    this.#deleteBatchSize = options.deleteBatchSize ?? 5_000;
    if (!Number.isSafeInteger(this.#retries) || this.#retries < 0) throw new TypeError(`retries must be an integer >= 0 (got ${String(options.retries)})`);
    if (!Number.isSafeInteger(this.#deleteBatchSize) || this.#deleteBatchSize < 2) {
      throw new TypeError(`deleteBatchSize must be an integer >= 2 (got ${String(options.deleteBatchSize)})`);
    }
  }

  async getSessionId(): Promise<string> {
    return this.sessionId;
  }

  /**
   * The items, oldest first; with `limit`, the last `limit` of them. One
   * consistent view: every item read as of the commit of the head record, so
   * a concurrent change is either wholly in the answer or not at all. (When
   * the namespace's history retention has compacted past that commit, the
   * view is taken as of the retention horizon instead: nothing in the session
   * changed between the two.)
   */
  async getItems(limit?: number): Promise<AgentInputItem[]> {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) throw new TypeError(`limit must be a non-negative integer (got ${limit})`);
    if (limit === 0) return [];
    let horizon: bigint | undefined; // set when retention compacted past the head's commit
    for (let attempt = 0; ; attempt += 1) {
      try {
        const headState =
          horizon === undefined ? await this.client.getState(this.agentId, HEAD, this.#ns) : await this.client.getStateAsOf(this.agentId, HEAD, horizon, this.#ns);
        return await this.#itemsAsOf(headOf(headState.value), horizon ?? headState.commitTs, limit);
      } catch (error) {
        // (The SDK's code type does not list HISTORY_COMPACTED yet; the daemon sends it.)
        const at = error instanceof StatehouseError && (error.code as string) === "HISTORY_COMPACTED" ? error.details["horizon_commit_ts"] : undefined;
        if (at === undefined || attempt >= 5) throw error;
        horizon = BigInt(at);
      }
    }
  }

  async #itemsAsOf(head: Head, asOf: bigint, limit: number | undefined): Promise<AgentInputItem[]> {
    if (head.next === head.start) return [];
    const from = limit === undefined ? head.start : Math.max(head.start, head.next - limit);
    if (limit !== undefined && limit <= 64) {
      const keys = Array.from({ length: head.next - from }, (_, i) => itemKey(from + i));
      const states = await Promise.all(keys.map((key) => this.client.getStateAsOf(this.agentId, key, asOf, this.#ns)));
      return states.map((state, i) => itemOf(state.value, keys[i] ?? ""));
    }
    const first = itemKey(from);
    const items: AgentInputItem[] = [];
    for await (const entry of this.client.iterateAgentStateAsOf(this.agentId, asOf, this.#ns)) {
      if (entry.key.startsWith(ITEM_PREFIX) && entry.key >= first) items.push(itemOf(entry.value, entry.key));
    }
    return items;
  }

  /** Appends `items` in one transaction: they land together, in order, after every item added before. */
  async addItems(items: AgentInputItem[]): Promise<void> {
    if (items.length === 0) return;
    const values = items.map(toJson);
    await this.client.withTransaction(
      async (tx) => {
        const head = headOf((await tx.get(this.agentId, HEAD)).value);
        values.forEach((value, i) => tx.write(this.agentId, itemKey(head.next + i), { item: value }));
        tx.write(this.agentId, HEAD, { start: head.start, next: head.next + values.length });
      },
      { ...this.#ns, retries: this.#retries },
    );
  }

  /** Removes and returns the newest item (in one transaction), or `undefined` when there is none. */
  async popItem(): Promise<AgentInputItem | undefined> {
    const { result } = await this.client.withTransaction(
      async (tx) => {
        const head = headOf((await tx.get(this.agentId, HEAD)).value);
        if (head.next === head.start) return undefined;
        const key = itemKey(head.next - 1);
        const item = itemOf((await tx.get(this.agentId, key)).value, key);
        tx.delete(this.agentId, key);
        tx.write(this.agentId, HEAD, { start: head.start, next: head.next - 1 });
        return item;
      },
      { ...this.#ns, retries: this.#retries },
    );
    return result;
  }

  /**
   * Empties the session. The head moves past every item in one transaction
   * (readers see all items or none); the item records are deleted in that
   * transaction too, or after it in batches when there are more than
   * `deleteBatchSize`.
   */
  async clearSession(): Promise<void> {
    const keys = (await this.client.listKeys(this.agentId, { ...this.#ns, prefix: ITEM_PREFIX })).filter((k) => k.length > 0);
    const { result: head } = await this.client.withTransaction(
      async (tx) => {
        const current = headOf((await tx.get(this.agentId, HEAD)).value);
        tx.write(this.agentId, HEAD, { start: current.next, next: current.next });
        for (const key of keys.slice(0, this.#deleteBatchSize - 1)) {
          if (key < itemKey(current.next)) tx.delete(this.agentId, key);
        }
        return current;
      },
      { ...this.#ns, retries: this.#retries },
    );
    const rest: TransactOperation[] = keys
      .slice(this.#deleteBatchSize - 1)
      .filter((key) => key < itemKey(head.next))
      .map((key) => ({ agentId: this.agentId, key, delete: true }));
    for (let start = 0; start < rest.length; start += this.#deleteBatchSize) {
      await this.client.transact(rest.slice(start, start + this.#deleteBatchSize), this.#ns);
    }
  }
}
