// Checks one agent's replay on its own: commit_ts strictly increasing, one
// event per transaction, every key's versions contiguous from 1, and folding
// the events in order reproduces the state the daemon serves.
import { isDeepStrictEqual } from "node:util";
import type { EventView, JsonObject, StateView } from "../drivers/protocol.js";

export interface FoldedKey {
  exists: boolean;
  value: JsonObject | null;
  version: number;
  commit_ts: number;
}

export interface FoldResult {
  state: Map<string, FoldedKey>;
  problems: string[];
  /** The largest commit_ts in the events (0 when there are none). */
  maxCommitTs: number;
}

/**
 * Applies events in order. `base` continues an earlier fold (for incremental
 * checks); it is not modified.
 */
export function foldEvents(agent: string, events: readonly EventView[], base?: FoldResult): FoldResult {
  const state = new Map(base?.state);
  const problems: string[] = [];
  let lastTs = base?.maxCommitTs ?? 0;
  const txnIds = new Set<string>();
  for (const event of events) {
    const where = `agent ${agent}, commit_ts ${event.commit_ts}`;
    if (event.commit_ts <= lastTs) problems.push(`${where}: commit_ts does not increase (previous ${lastTs})`);
    lastTs = Math.max(lastTs, event.commit_ts);
    if (txnIds.has(event.txn_id)) problems.push(`${where}: txn ${event.txn_id} appears in two events`);
    txnIds.add(event.txn_id);
    if (event.operations.length === 0) problems.push(`${where}: event without operations`);
    const keys = new Set<string>();
    for (const op of event.operations) {
      if (keys.has(op.key)) problems.push(`${where}: key ${op.key} twice in one event`);
      keys.add(op.key);
      const previous = state.get(op.key);
      const expected = (previous?.version ?? 0) + 1;
      if (op.version !== expected) {
        problems.push(`${where}: key ${op.key} version ${op.version}, expected ${expected} (versions must be contiguous)`);
      }
      state.set(op.key, { exists: op.value !== null, value: op.value, version: op.version, commit_ts: event.commit_ts });
    }
  }
  return { state, problems, maxCommitTs: lastTs };
}

/**
 * Compares the fold of the replay with what the daemon serves: get_state of
 * every key in `observed` (keys never written must say exists=false, version
 * 0) and list_keys.
 */
export function compareWithState(
  agent: string,
  folded: FoldResult,
  observed: ReadonlyMap<string, StateView>,
  listedKeys: readonly string[] | undefined,
): string[] {
  const problems: string[] = [];
  for (const [key, seen] of observed) {
    const want = folded.state.get(key) ?? { exists: false, value: null, version: 0, commit_ts: 0 };
    const wantValue = want.exists ? want.value : null;
    const seenValue = seen.exists ? seen.value : null;
    if (
      seen.exists !== want.exists ||
      seen.version !== want.version ||
      seen.commit_ts !== want.commit_ts ||
      !isDeepStrictEqual(seenValue, wantValue)
    ) {
      problems.push(
        `agent ${agent} key ${key}: state ${JSON.stringify(seen)} but replay folds to ${JSON.stringify(want)}`,
      );
    }
  }
  for (const key of folded.state.keys()) {
    if (!observed.has(key)) problems.push(`agent ${agent}: replay has key ${key} that the check did not read`);
  }
  if (listedKeys !== undefined) {
    const want = [...folded.state].filter(([, entry]) => entry.exists).map(([key]) => key).sort();
    const seen = [...listedKeys].sort();
    if (!isDeepStrictEqual(seen, want)) {
      problems.push(`agent ${agent}: list_keys ${JSON.stringify(seen)} but replay folds to ${JSON.stringify(want)}`);
    }
  }
  return problems;
}
