// The expected store in a scenario: the transactions known to be committed,
// applied in commit_ts order with the spec's version rules (1 on the first
// write, +1 on every write and delete).
import { effectiveOps } from "../check/commit-ledger.js";
import type { EventView, JsonObject, OpSpec, StateView } from "../drivers/protocol.js";

interface ModelTxn {
  commitTs: number;
  ops: Map<string, JsonObject | null>;
}

export class StoreModel {
  private readonly txns: ModelTxn[] = [];

  /** Records a committed transaction (any order; kept sorted by commit_ts). */
  apply(commitTs: number, ops: readonly OpSpec[]): void {
    if (this.txns.some((txn) => txn.commitTs === commitTs)) throw new TypeError(`commit_ts ${commitTs} applied twice`);
    this.txns.push({ commitTs, ops: effectiveOps(ops) });
    this.txns.sort((a, b) => a.commitTs - b.commitTs);
  }

  get lastCommitTs(): number {
    return this.txns.at(-1)?.commitTs ?? 0;
  }

  get size(): number {
    return this.txns.length;
  }

  /** The events replay must return for `agent` (operations sorted by key; txn ids not compared). */
  events(agent: string): Array<Omit<EventView, "txn_id">> {
    const versions = new Map<string, number>();
    const events: Array<Omit<EventView, "txn_id">> = [];
    for (const txn of this.txns) {
      const operations: EventView["operations"] = [];
      for (const [id, value] of txn.ops) {
        const slash = id.indexOf("/");
        if (id.slice(0, slash) !== agent) continue;
        const key = id.slice(slash + 1);
        const version = (versions.get(key) ?? 0) + 1;
        versions.set(key, version);
        operations.push({ key, value, version });
      }
      if (operations.length > 0) {
        operations.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        events.push({ commit_ts: txn.commitTs, operations });
      }
    }
    return events;
  }

  /** The state get_state must return for every key `agent` ever had. */
  state(agent: string): Map<string, StateView> {
    const state = new Map<string, StateView>();
    for (const event of this.events(agent)) {
      for (const op of event.operations) {
        state.set(op.key, { exists: op.value !== null, value: op.value, version: op.version, commit_ts: event.commit_ts });
      }
    }
    return state;
  }

  /** The keys list_keys must return (existing ones, sorted). */
  keys(agent: string): string[] {
    return [...this.state(agent)]
      .filter(([, view]) => view.exists)
      .map(([key]) => key)
      .sort();
  }
}

/** Replay output without txn ids and with operations sorted by key, for comparison with StoreModel.events. */
export function normalizeEvents(events: readonly EventView[]): Array<Omit<EventView, "txn_id">> {
  return events.map((event) => ({
    commit_ts: event.commit_ts,
    operations: [...event.operations].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
  }));
}
