// LangGraph.js long-term memory (BaseStore) on Statehouse: every item is one
// record of one agent; the puts and deletes of a batch commit in one
// transaction.
import {
  BaseStore,
  type GetOperation,
  type Item,
  type ListNamespacesOperation,
  type MatchCondition,
  type Operation,
  type OperationResults,
  type PutOperation,
  type SearchItem,
  type SearchOperation,
} from "@langchain/langgraph-checkpoint";
import type { JsonObject, StateEntry, StatehouseClient } from "@statehouse/sdk";
import { part, unpart } from "./layout.js";
import { matchesFilter } from "./store-filter.js";

export interface StatehouseStoreOptions {
  /** Statehouse namespace of the store's records (default: the client's). */
  namespace?: string;
  /** The agent id holding the items (default `"langgraph/store"`). */
  agentId?: string;
}

const DEFAULT_AGENT = "langgraph/store";

// Record key of item `key` in namespace [l1, l2]: `l1/l2/:key`, each part
// encodeURIComponent()-encoded (so it holds no "/" or ":"). The prefix of
// namespace [l1] is `l1/`: it matches [l1] and [l1, l2], never [l1x].
function namespacePrefix(labels: readonly string[]): string {
  return labels.map((label) => `${part(label)}/`).join("");
}

function recordKey(labels: readonly string[], key: string): string {
  return `${namespacePrefix(labels)}:${part(key)}`;
}

function namespaceOfKey(recordKeyText: string): string[] {
  return recordKeyText.split("/").slice(0, -1).map(unpart);
}

function matches(condition: MatchCondition, labels: readonly string[]): boolean {
  const { path } = condition;
  if (path.length > labels.length) return false;
  const offset = condition.matchType === "prefix" ? 0 : labels.length - path.length;
  return path.every((label, i) => label === "*" || labels[offset + i] === label);
}

function toItem(entry: Pick<StateEntry, "value">): Item {
  const v = entry.value;
  return {
    namespace: v["namespace"] as string[],
    key: v["key"] as string,
    value: v["value"] as Record<string, unknown>,
    createdAt: new Date(v["createdAt"] as string),
    updatedAt: new Date(v["updatedAt"] as string),
  };
}

/**
 * A LangGraph.js store on Statehouse: `put`, `get`, `search` (namespace
 * prefix, filter, offset, limit), `delete` and `listNamespaces`. No vector
 * index: a search's `query` is not used, results come in key order.
 */
export class StatehouseStore extends BaseStore {
  readonly client: StatehouseClient;
  readonly agentId: string;
  readonly #ns: { namespace?: string };

  constructor(client: StatehouseClient, options: StatehouseStoreOptions = {}) {
    super();
    this.client = client;
    this.agentId = options.agentId ?? DEFAULT_AGENT;
    this.#ns = options.namespace === undefined ? {} : { namespace: options.namespace };
  }

  override async batch<Op extends Operation[]>(operations: Op): Promise<OperationResults<Op>> {
    // Reads see the store as it was before the batch; then all its puts and
    // deletes commit together (the last one for an item wins).
    const results = await Promise.all(
      operations.map((op): Promise<unknown> => {
        if ("namespacePrefix" in op) return this.#search(op);
        if (!("key" in op)) return this.#listNamespaces(op);
        if ("value" in op) return Promise.resolve(null);
        return this.#get(op);
      }),
    );
    const puts = new Map<string, PutOperation>();
    for (const op of operations) {
      if ("key" in op && "value" in op) puts.set(recordKey(op.namespace, op.key), op);
    }
    if (puts.size > 0) await this.#commit(puts);
    return results as OperationResults<Op>;
  }

  async #get(op: GetOperation): Promise<Item | null> {
    const state = await this.client.getState(this.agentId, recordKey(op.namespace, op.key), this.#ns);
    return state.value === null ? null : toItem({ value: state.value });
  }

  async #search(op: SearchOperation): Promise<SearchItem[]> {
    const offset = op.offset ?? 0;
    const limit = op.limit ?? 10;
    const found: SearchItem[] = [];
    let skipped = 0;
    for await (const entry of this.client.iterateScan(this.agentId, namespacePrefix(op.namespacePrefix), this.#ns)) {
      const item = toItem(entry);
      if (!matchesFilter(item.value, op.filter)) continue;
      if (skipped < offset) {
        skipped += 1;
        continue;
      }
      if (found.length >= limit) break;
      found.push(item);
    }
    return found;
  }

  async #listNamespaces(op: ListNamespacesOperation): Promise<string[][]> {
    const seen = new Map<string, string[]>();
    for await (const key of this.client.iterateKeys(this.agentId, this.#ns)) {
      let labels = namespaceOfKey(key);
      if (op.matchConditions !== undefined && !op.matchConditions.every((c) => matches(c, labels))) continue;
      if (op.maxDepth !== undefined) labels = labels.slice(0, op.maxDepth);
      seen.set(labels.join("\u0000"), labels);
    }
    const sorted = [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, labels]) => labels);
    const offset = op.offset ?? 0;
    return sorted.slice(offset, offset + (op.limit ?? sorted.length));
  }

  async #commit(puts: Map<string, PutOperation>): Promise<void> {
    // JSON as Postgres stores it: Dates become strings, undefined fields drop.
    const values = new Map([...puts].map(([key, op]) => [key, op.value === null ? null : (JSON.parse(JSON.stringify(op.value)) as JsonObject)]));
    await this.client.withTransaction(async (tx) => {
      const now = new Date().toISOString();
      const current = await Promise.all([...puts.keys()].map((key) => tx.get(this.agentId, key)));
      [...puts].forEach(([key, op], i) => {
        const value = values.get(key) ?? null;
        if (value === null) {
          if (current[i]?.exists === true) tx.delete(this.agentId, key);
          return;
        }
        const createdAt = current[i]?.value?.["createdAt"];
        tx.write(this.agentId, key, {
          namespace: op.namespace,
          key: op.key,
          value,
          createdAt: typeof createdAt === "string" ? createdAt : now,
          updatedAt: now,
        });
      });
    }, this.#ns);
  }
}
