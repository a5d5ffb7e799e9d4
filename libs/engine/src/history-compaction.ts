// Background compaction of history behind each namespace's retention horizon.
//
// One pass walks the event log forward from the lowest horizon that can move, in batches of
// `batchEvents` events with `pauseMs` between them (bounded I/O: commits go on between the
// batches, each batch runs between two commit batches through the single writer). For every
// operation of a compacted event (commit_ts T <= its namespace's new horizon H):
//   - the key's previous version is superseded at T <= H: its version entry goes;
//   - a delete whose tombstone is still the key's state goes entirely (state + version entry);
//   - an agent-event entry goes once none of its operations' version entries is left (so the
//     values of the versions current at H stay readable: as-of reads at H or later are exact);
//   - the log entry goes once every namespace's horizon passed it (the log floor).
// The horizons and the floor are written in the same atomic batch as the deletions, so a crash
// leaves either the batch and its horizons or neither. Current state is never touched, except
// tombstones (deleted keys) behind the horizon: such a key reads as never written and, written
// again, starts over at version 1 (its older versions are compacted; documented in the README).
import type { CommitSequencer } from "./commit-sequencer.ts";
import {
  agentEventKey,
  agentPrefix,
  decodeU64,
  eventKey,
  stateKey,
  TABLE_AGENT_EVENT,
  versionKey,
} from "./key-encoding.ts";
import { decodeEvent, decodeStateHeader, type StoredEvent } from "./record-codec.ts";
import type { RetentionEntry, RetentionTable } from "./retention.ts";
import type { KvOp, OrderedKv } from "./storage/ordered-kv.ts";

export interface CompactionLimits {
  /** Events read and compacted per writer batch. */
  batchEvents: number;
  /** Pause between batches, milliseconds. */
  pauseMs: number;
}

export interface CompactionProgress {
  /** Events compacted so far in this pass. */
  events: number;
  /** Events still to walk in this pass (estimate from the commit times). */
  backlog: number;
}

interface Moving {
  entry: RetentionEntry;
  cutoffMs: number;
  newHorizon: number;
  frozen: boolean;
}

interface CompactedOp {
  namespace: string;
  agentId: string;
  key: string;
  version: number;
  commitTs: number;
  isDelete: boolean;
}

/** Runs one compaction pass; resolves to the number of events compacted. */
export async function compactHistory(
  kv: OrderedKv,
  sequencer: CommitSequencer,
  table: RetentionTable,
  nowMs: number,
  limits: CompactionLimits,
  onProgress: (progress: CompactionProgress) => void,
): Promise<number> {
  const moving = new Map<RetentionEntry, Moving>();
  for (const [, entry] of table.entries()) {
    if (entry.policy.kind === "duration") moving.set(entry, { entry, cutoffMs: nowMs - entry.policy.keepMs, newHorizon: entry.horizon, frozen: false });
  }
  if (moving.size === 0) return 0;
  let start = Infinity;
  let maxCutoff = -Infinity;
  for (const m of moving.values()) {
    start = Math.min(start, m.entry.horizon);
    maxCutoff = Math.max(maxCutoff, m.cutoffMs);
  }
  const target = await lastCommitAtOrBefore(kv, start, sequencer.committedTs, maxCutoff);
  if (target <= start) return 0;
  let compacted = 0;
  let walked = start;
  onProgress({ events: 0, backlog: target - start });
  const iterator = kv.iterator({ gte: eventKey(start + 1), lt: eventKey(target + 1) });
  try {
    for (;;) {
      const rows = await iterator.next(limits.batchEvents);
      if (rows.length === 0) break;
      const events = rows.map(([key, value]) => decodeEvent(value, decodeU64(key, 1)));
      const { ops, logDeletes, done } = planBatch(events, table, moving);
      await sequencer.runExclusive(() => applyBatch(kv, table, moving, ops, logDeletes));
      compacted += countCompacted(events, moving);
      walked = events[events.length - 1]?.commitTs ?? walked;
      onProgress({ events: compacted, backlog: done ? 0 : Math.max(0, target - walked) });
      if (done) break;
      await new Promise((resolve) => setTimeout(resolve, limits.pauseMs));
    }
  } finally {
    iterator.close();
  }
  onProgress({ events: compacted, backlog: 0 });
  return compacted;
}

function countCompacted(events: readonly StoredEvent[], moving: ReadonlyMap<RetentionEntry, Moving>): number {
  let highest = 0;
  for (const m of moving.values()) highest = Math.max(highest, m.newHorizon);
  return events.filter((e) => e.commitTs <= highest).length;
}

/**
 * Advances the moving horizons over these events (in order; a horizon stops at the first
 * event committed after its cutoff) and lists what is compacted. `done` when every moving
 * horizon stopped.
 */
function planBatch(
  events: readonly StoredEvent[],
  table: RetentionTable,
  moving: ReadonlyMap<RetentionEntry, Moving>,
): { ops: CompactedOp[]; logDeletes: number[]; done: boolean } {
  const ops: CompactedOp[] = [];
  const logDeletes: number[] = [];
  const newHorizonOf = (entry: RetentionEntry): number => moving.get(entry)?.newHorizon ?? entry.horizon;
  for (const event of events) {
    const ts = event.commitTs;
    for (const m of moving.values()) {
      if (m.frozen || m.newHorizon >= ts) continue;
      if (m.newHorizon === ts - 1 && event.committedAtMs <= m.cutoffMs) m.newHorizon = ts;
      else m.frozen = true;
    }
    if ([...moving.values()].every((m) => m.frozen)) return { ops, logDeletes, done: true };
    for (const op of event.operations) {
      const entry = table.entryOf(op.namespace);
      if (ts <= entry.horizon || ts > newHorizonOf(entry)) continue;
      ops.push({ namespace: op.namespace, agentId: op.agentId, key: op.key, version: op.version, commitTs: ts, isDelete: op.value === null });
    }
    let floor = Infinity;
    for (const [, entry] of table.entries()) floor = Math.min(floor, newHorizonOf(entry));
    if (ts <= floor) logDeletes.push(ts);
  }
  return { ops, logDeletes, done: false };
}

/** Deletes what the plan compacts and persists the new horizons, in one batch (runs inside the single writer). */
async function applyBatch(kv: OrderedKv, table: RetentionTable, moving: ReadonlyMap<RetentionEntry, Moving>, plan: readonly CompactedOp[], logDeletes: readonly number[]): Promise<void> {
  const writes: KvOp[] = [];
  const deleted = new Set<string>();
  const del = (key: Buffer): void => {
    const id = key.toString("latin1");
    if (deleted.has(id)) return;
    deleted.add(id);
    writes.push({ type: "del", key });
  };
  // Agent-event entries that may have lost their last version entry: checked below.
  const candidates = new Map<string, { namespace: string; agentId: string; commitTs: number }>();
  const candidate = (namespace: string, agentId: string, commitTs: number): void => {
    candidates.set(agentEventKey(agentPrefix(TABLE_AGENT_EVENT, namespace, agentId), commitTs).toString("latin1"), { namespace, agentId, commitTs });
  };
  const stateKeys = plan.map((op) => stateKey(op.namespace, op.agentId, op.key));
  // 1. Each compacted operation supersedes the key's previous version.
  const superseding = plan.flatMap((op, i) => (op.version > 1 ? [{ op, key: versionKey(stateKeys[i] as Buffer, op.version - 1) }] : []));
  const previousTs = await kv.getMany(superseding.map((s) => s.key));
  superseding.forEach(({ op, key }, i) => {
    const raw = previousTs[i];
    if (raw === undefined) return; // superseded in an earlier pass
    del(key);
    candidate(op.namespace, op.agentId, decodeU64(raw));
  });
  // 2. A delete that is still the key's state: the tombstone goes with its version entry.
  const deletes = plan.map((op, i) => ({ op, key: stateKeys[i] as Buffer })).filter((d) => d.op.isDelete);
  const states = await kv.getMany(deletes.map((d) => d.key));
  deletes.forEach(({ op, key }, i) => {
    const raw = states[i];
    if (raw === undefined) return;
    const header = decodeStateHeader(raw);
    if (header.exists || header.version !== op.version) return;
    del(key);
    del(versionKey(key, op.version));
    candidate(op.namespace, op.agentId, op.commitTs);
  });
  // 3. An agent-event entry goes once none of its operations' version entries is left.
  const candidateKeys = [...candidates.keys()].map((id) => Buffer.from(id, "latin1"));
  const slices = await kv.getMany(candidateKeys);
  // Every candidate's version keys in one multi-get.
  const checks: { key: Buffer; versionKeys: Buffer[] }[] = [];
  candidateKeys.forEach((key, i) => {
    const raw = slices[i];
    if (raw === undefined) return;
    const info = candidates.get(key.toString("latin1"));
    if (info === undefined) return;
    const slice = decodeEvent(raw, info.commitTs);
    checks.push({ key, versionKeys: slice.operations.map((op) => versionKey(stateKey(op.namespace, op.agentId, op.key), op.version)) });
  });
  const present = await kv.getMany(checks.flatMap((c) => c.versionKeys));
  let at = 0;
  for (const { key, versionKeys } of checks) {
    const gone = versionKeys.every((vk, j) => present[at + j] === undefined || deleted.has(vk.toString("latin1")));
    at += versionKeys.length;
    if (gone) del(key);
  }
  // 4. Log entries every namespace has compacted, and the new horizons and floor.
  for (const ts of logDeletes) del(eventKey(ts));
  const changed: [string | null, RetentionEntry][] = [];
  for (const [namespace, entry] of table.entries()) {
    const m = moving.get(entry);
    if (m !== undefined && m.newHorizon !== entry.horizon) changed.push([namespace, { ...entry, horizon: m.newHorizon }]);
  }
  for (const [namespace, entry] of changed) writes.push(table.entryOp(namespace, entry));
  const lastLogDelete = logDeletes[logDeletes.length - 1];
  if (lastLogDelete !== undefined) writes.push(table.floorOp(lastLogDelete));
  if (writes.length === 0) return;
  await kv.write(writes, false);
  // Only once durable in storage's order: the readers' horizons move.
  for (const [, entry] of table.entries()) {
    const m = moving.get(entry);
    if (m !== undefined) entry.horizon = m.newHorizon;
  }
  if (lastLogDelete !== undefined) table.logFloor = lastLogDelete;
}

/**
 * The last commit_ts in (after, upTo] committed at or before `cutoffMs` (`after` when none),
 * by binary search over the log's commit times (which grow with commit_ts, as the wall clock
 * does; a clock step back only makes a pass stop early).
 */
async function lastCommitAtOrBefore(kv: OrderedKv, after: number, upTo: number, cutoffMs: number): Promise<number> {
  let lo = after + 1;
  let hi = upTo;
  let found = after;
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    const [raw] = await kv.getMany([eventKey(mid)]);
    if (raw === undefined) {
      // Below the log floor (compacted everywhere): older than any cutoff that matters.
      found = mid;
      lo = mid + 1;
      continue;
    }
    if (decodeEvent(raw, mid).committedAtMs <= cutoffMs) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
