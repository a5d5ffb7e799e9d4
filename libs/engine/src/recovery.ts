// Recovery of a RocksDB store, run by openEngine after RocksDB's own WAL recovery.
//
// The event log (table E) is the source of truth. The indexes (latest state S, versions V,
// agent events A, idempotency keys I + their expiry order X) are written in the SAME atomic
// batch as the events (index-entries.ts defines them once), so after RocksDB's recovery they
// normally match the log exactly. Recovery therefore:
//   1. loads the newest valid snapshot (a checkpoint: commit_ts S was durable, event S had
//      checksum C) and REFUSES to start (CORRUPTION) when the log no longer reaches S or holds
//      another event S: acknowledged commits are missing. recoveryMode "accept-rollback" lets
//      an operator accept that explicitly (the newer snapshots are removed, with a note);
//   2. replays the events after S against the durable indexes, verifying each event's checksum
//      and that every index entry it implies is present; a state entry newer than the log is
//      rollback evidence as well;
//   3. only if something is missing or inconsistent (or a previous rebuild was interrupted, or
//      a full rebuild was asked for) rebuilds every index from the full log. A rebuild is marked
//      in the meta table first, so a crash during it simply makes the next open rebuild again.
import { crc32 } from "node:zlib";
import { EngineError } from "./engine-error.ts";
import type { Failpoints } from "./failpoints.ts";
import { decodeIdempotency, eventRecord, indexEntries, type IndexEntry } from "./index-entries.ts";
import {
  decodeU64,
  decodeV1IdempotencyKey,
  encodeU64,
  eventKey,
  metaKey,
  TABLE_AGENT_EVENT,
  TABLE_EVENT,
  TABLE_IDEMPOTENCY,
  TABLE_IDEMPOTENCY_EXPIRY,
  TABLE_IDEMPOTENCY_V1,
  TABLE_STATE,
  TABLE_VERSION,
} from "./key-encoding.ts";
import { META_COMMIT_TS } from "./commit-sequencer.ts";
import { decodeEvent, decodeStateHeader, type StoredEvent } from "./record-codec.ts";
import { RetentionTable } from "./retention.ts";
import type { SnapshotInfo, SnapshotStore } from "./snapshot-store.ts";
import type { KvOp, OrderedKv } from "./storage/ordered-kv.ts";

export const META_FORMAT = metaKey("format");
export const META_REBUILD = metaKey("rebuild-in-progress");
const FORMAT_V1 = Buffer.from("statehouse-engine/1", "utf8");
export const FORMAT = Buffer.from("statehouse-engine/2", "utf8");
const CHUNK = 512;
const REBUILD_FULL = Buffer.from("full", "utf8");

export type RecoveryMode = "auto" | "rebuild" | "accept-rollback";

export interface RecoveryContext {
  kv: OrderedKv;
  snapshots: SnapshotStore;
  failpoints: Failpoints;
  mode: RecoveryMode;
  /** Milliseconds since the epoch. */
  now: number;
  idempotencyWindowMs: number;
}

export interface RecoveryResult {
  lastCommitTs: number;
  snapshot: SnapshotInfo | null;
  eventsReplayed: number;
  rebuilt: boolean;
  notes: string[];
  /** Retention policies and horizons, as stored. */
  retention: RetentionTable;
}

const ROLLBACK_HELP =
  "acknowledged commits are missing (a restored older db/, lost WAL or SST files, a truncated WAL): " +
  "restore the matching data directory, or restart with recovery mode accept-rollback to serve the older state " +
  "(commit_ts values after it will be issued again)";

export async function recover(ctx: RecoveryContext): Promise<RecoveryResult> {
  const { kv, snapshots, failpoints, mode } = ctx;
  const notes: string[] = [];
  await snapshots.init();
  const [rawTs, rebuildMarker, format] = kv.getManySync([META_COMMIT_TS, META_REBUILD, META_FORMAT]);
  const firstEvent = await firstKey(kv, Buffer.of(TABLE_EVENT), Buffer.of(TABLE_EVENT + 1));
  if (format === undefined) {
    if (firstEvent !== undefined) throw new EngineError("CORRUPTION", "store has events but no format marker");
    // Keys but no marker: not a store of ours (an original Statehouse 0.1.x database, say). Stamping
    // the marker would serve it as an empty store and hide its data.
    if ((await firstKey(kv, Buffer.alloc(0), Buffer.alloc(16, 0xff))) !== undefined) {
      throw new EngineError("STORAGE_ERROR", "the store holds data without a statehouse-engine format marker (foreign data, e.g. an original Statehouse 0.1.x database: import it with `statehoused import-original --from DIR`); refusing to open it");
    }
    kv.writeSync([{ type: "put", key: META_FORMAT, value: FORMAT }], true);
  } else if (format.equals(FORMAT_V1)) {
    const moved = await migrateIdempotencyKeys(ctx);
    notes.push(`store format upgraded from statehouse-engine/1 to /2 (${moved} idempotency keys scoped by namespace)`);
  } else if (!format.equals(FORMAT)) {
    throw new EngineError("STORAGE_ERROR", `unsupported store format ${format.toString("utf8")}`);
  }

  const retention = await RetentionTable.load(kv);
  const floor = retention.logFloor;
  let lastTs = rawTs === undefined ? 0 : decodeU64(rawTs);
  const reasons: string[] = [];
  if (mode === "rebuild") reasons.push("full rebuild requested");
  if (rebuildMarker !== undefined) reasons.push("a previous index rebuild was interrupted");
  if (rawTs === undefined && firstEvent !== undefined) reasons.push("commit_ts marker missing");
  const beyond = await lastKey(kv, eventKey(lastTs + 1), Buffer.of(TABLE_EVENT + 1));
  if (beyond !== undefined) {
    // The events are there, only the marker lags (it is written in the same batch, so this is damage, not a rollback).
    reasons.push("events beyond the commit_ts marker");
    lastTs = decodeU64(beyond, 1);
  }

  if (floor > lastTs) {
    acceptOrRefuse(mode, `history was compacted up to commit_ts ${floor}, but the event log ends at ${lastTs}`, notes);
    lastTs = floor;
  }
  const snapshot = await newestSnapshot(ctx, lastTs, floor, notes);
  let eventsReplayed = 0;
  if (reasons.length === 0) {
    // Events at or before the log floor are compacted away: verification starts after it.
    const verified = await verifyTail(ctx, Math.max(snapshot?.commitTs ?? 0, floor), lastTs, retention);
    eventsReplayed = verified.events;
    if (verified.rollback !== null) {
      acceptOrRefuse(mode, verified.rollback, notes);
      reasons.push("index entries newer than the log (rollback accepted)");
    }
    if (verified.problem !== null) reasons.push(verified.problem);
  }
  if (reasons.length === 0) return { lastCommitTs: lastTs, snapshot, eventsReplayed, rebuilt: false, notes, retention };

  notes.push(
    floor === 0
      ? `rebuilding indexes from the full event log: ${reasons.join("; ")}`
      : `rebuilding indexes from the event log after the compacted floor ${floor} (entries at or before it are the only copy and are kept): ${reasons.join("; ")}`,
  );
  const rebuilt = await rebuild(ctx, failpoints, floor);
  if (snapshot !== null) notes.push(`snapshot ${snapshot.file} checked but not needed: indexes rebuilt from the full event log`);
  return { lastCommitTs: Math.max(rebuilt.lastTs, floor), snapshot: null, eventsReplayed: rebuilt.events, rebuilt: true, notes, retention };
}

/** Rollback evidence: refused with CORRUPTION, unless the operator chose accept-rollback. */
function acceptOrRefuse(mode: RecoveryMode, evidence: string, notes: string[]): void {
  if (mode !== "accept-rollback") {
    throw new EngineError("CORRUPTION", `refusing to start: ${evidence}; ${ROLLBACK_HELP}`, { details: { evidence } });
  }
  notes.push(`rollback accepted (recovery mode accept-rollback): ${evidence}`);
}

/**
 * The newest valid snapshot that the log agrees with. A snapshot ahead of the log, or one
 * whose event S is missing or different, is rollback evidence.
 */
async function newestSnapshot(ctx: RecoveryContext, lastTs: number, floor: number, notes: string[]): Promise<SnapshotInfo | null> {
  const { kv, snapshots, mode } = ctx;
  for (const candidate of await snapshots.list()) {
    const check = await snapshots.check(candidate);
    if (!check.ok) {
      notes.push(`snapshot ${candidate.file} rejected: ${check.reason}`);
      continue;
    }
    let evidence: string | null = null;
    if (candidate.commitTs > lastTs) {
      evidence = `snapshot ${candidate.file} records commit_ts ${candidate.commitTs} as durable, but the event log ends at ${lastTs}`;
    } else if (candidate.commitTs > floor) {
      // (At or before the log floor event S was compacted away: the floor itself vouches for it.)
      const [event] = await kv.getMany([eventKey(candidate.commitTs)]);
      if (event === undefined) evidence = `snapshot ${candidate.file} records commit_ts ${candidate.commitTs}, which is missing from the event log`;
      else if (check.eventCrc !== null && crc32(event) !== check.eventCrc) {
        // A purge rewrites events in place (marked purged): the same commit, fewer operations.
        if (purgedEvent(event, candidate.commitTs)) notes.push(`snapshot ${candidate.file}: event ${candidate.commitTs} was rewritten by a purge since`);
        else evidence = `snapshot ${candidate.file} recorded another event at commit_ts ${candidate.commitTs} than the log holds now`;
      }
    }
    if (evidence === null) return candidate;
    acceptOrRefuse(mode, evidence, notes);
    await snapshots.remove(candidate);
  }
  return null;
}

function purgedEvent(raw: Buffer, ts: number): boolean {
  try {
    return decodeEvent(raw, ts).purged === true;
  } catch {
    return false;
  }
}

async function firstKey(kv: OrderedKv, gte: Buffer, lt: Buffer): Promise<Buffer | undefined> {
  const iterator = kv.iterator({ gte, lt, limit: 1 });
  try {
    return (await iterator.next(1))[0]?.[0];
  } finally {
    iterator.close();
  }
}

async function lastKey(kv: OrderedKv, gte: Buffer, lt: Buffer): Promise<Buffer | undefined> {
  const iterator = kv.iterator({ gte, lt });
  let last: Buffer | undefined;
  try {
    for (;;) {
      const rows = await iterator.next(CHUNK);
      if (rows.length === 0) return last;
      last = rows[rows.length - 1]?.[0];
    }
  } finally {
    iterator.close();
  }
}

/** Yields decoded events (with their stored bytes) with commit_ts in (afterTs, upToTs], CHUNK at a time, checksums verified. */
async function* events(kv: OrderedKv, afterTs: number, upToTs: number): AsyncGenerator<{ event: StoredEvent; raw: Buffer }[]> {
  const upper = upToTs === Infinity ? Buffer.of(TABLE_EVENT + 1) : eventKey(upToTs + 1);
  const iterator = kv.iterator({ gte: eventKey(afterTs + 1), lt: upper });
  let expected = afterTs + 1;
  try {
    for (;;) {
      const rows = await iterator.next(CHUNK);
      if (rows.length === 0) break;
      const batch: { event: StoredEvent; raw: Buffer }[] = [];
      for (const [key, value] of rows) {
        const ts = decodeU64(key, 1);
        if (ts !== expected) throw new EngineError("CORRUPTION", `event log has a gap: expected commit_ts ${expected}, found ${ts}`);
        expected++;
        batch.push({ event: decodeEvent(value, ts), raw: value });
      }
      yield batch;
    }
  } finally {
    iterator.close();
  }
  if (upToTs !== Infinity && expected !== upToTs + 1) {
    throw new EngineError("CORRUPTION", `event log ends at commit_ts ${expected - 1}, expected ${upToTs}`);
  }
}

/** What a stored entry says about one expected index entry: null (fine), a problem (repairable) or rollback evidence. */
export type Finding = null | { problem: string } | { rollback: string };

export function sameAgentSlice(stored: Buffer, expected: Buffer, ts: number): boolean {
  if (stored.equals(expected)) return true;
  try {
    const a = decodeEvent(stored, ts);
    const b = decodeEvent(expected, ts);
    return a.txnId === b.txnId && JSON.stringify(a.operations) === JSON.stringify(b.operations);
  } catch {
    return false;
  }
}

/** Checks one stored value against the index entry the event implies. */
export function checkEntry(entry: IndexEntry, stored: Buffer | undefined, event: StoredEvent, lastTs: number, ctx: Pick<RecoveryContext, "now" | "idempotencyWindowMs">, retention: RetentionTable): Finding {
  const ts = event.commitTs;
  // Behind its namespace's horizon an entry may be compacted: only a state newer than the log still counts.
  if (entry.namespace !== undefined && ts <= retention.horizonOf(entry.namespace)) {
    if (entry.kind !== "state" || stored === undefined) return null;
    const header = decodeStateHeader(stored);
    return header.commitTs > lastTs ? { rollback: `state of ${entry.operation?.agentId}/${entry.operation?.key} was written at commit_ts ${header.commitTs}, after the end of the event log (${lastTs})` } : null;
  }
  const expired = event.committedAtMs + ctx.idempotencyWindowMs <= ctx.now;
  switch (entry.kind) {
    case "event":
      return null;
    case "agent-event":
      if (stored === undefined) return { problem: `event ${ts} missing from an agent index` };
      return sameAgentSlice(stored, entry.value, ts) ? null : { problem: `agent index entry of event ${ts} differs from the log` };
    case "state": {
      const op = entry.operation;
      if (op === undefined) return null;
      const where = `${op.agentId}/${op.key}`;
      if (stored === undefined) return { problem: `state of ${where} missing (event ${ts})` };
      const header = decodeStateHeader(stored);
      if (header.commitTs > lastTs) return { rollback: `state of ${where} was written at commit_ts ${header.commitTs}, after the end of the event log (${lastTs})` };
      if (header.version < op.version) return { problem: `state of ${where} older than event ${ts}` };
      if (header.version === op.version && (header.commitTs !== ts || header.exists !== (op.valueJson !== null))) {
        return { problem: `state of ${where} disagrees with event ${ts}` };
      }
      return null;
    }
    case "version":
      // A keep-versions policy dropped older version entries of this namespace (only the version index: the log stays).
      if (stored === undefined && entry.namespace !== undefined && retention.entryOf(entry.namespace).versionsDropped === true) return null;
      return stored !== undefined && stored.equals(entry.value) ? null : { problem: `version index entry of event ${ts} missing` };
    case "idempotency": {
      // A purge rewrote the event without some operations: its key (if kept) is the whole
      // transaction's, scoped and fingerprinted by operations the event no longer holds.
      if (event.purged === true) return null;
      // Purged after the window, or taken over by a later commit after the window: both fine.
      if (stored === undefined) return expired ? null : { problem: `idempotency key of event ${ts} not indexed` };
      const found = decodeIdempotency(stored).commitTs;
      if (found > ts) return null;
      return found === ts && stored.equals(entry.value) ? null : { problem: `idempotency key of event ${ts} not indexed` };
    }
    case "idempotency-expiry":
      if (event.purged === true) return null;
      return stored !== undefined || expired ? null : { problem: `idempotency expiry entry of event ${ts} missing` };
  }
}

/**
 * Checks that the indexes hold everything the events after the snapshot imply. Read-only.
 * The point reads of one chunk run (in the storage thread pool) while the next chunk is decoded.
 */
async function verifyTail(ctx: RecoveryContext, afterTs: number, upToTs: number, retention: RetentionTable): Promise<{ events: number; problem: string | null; rollback: string | null }> {
  const { kv, failpoints } = ctx;
  let count = 0;
  let rollback: string | null = null;
  type Pending = { checks: { entry: IndexEntry; event: StoredEvent }[]; values: Promise<(Buffer | undefined)[]> };
  let pending: Pending | null = null;
  const settle = async (): Promise<string | null> => {
    if (pending === null) return null;
    const { checks, values } = pending;
    pending = null;
    const stored = await values;
    let problem: string | null = null;
    checks.forEach(({ entry, event }, i) => {
      const finding = checkEntry(entry, stored[i], event, upToTs, ctx, retention);
      if (finding === null) return;
      if ("rollback" in finding) rollback ??= finding.rollback;
      else problem ??= finding.problem;
    });
    return problem;
  };
  for await (const batch of events(kv, afterTs, upToTs)) {
    const checks: Pending["checks"] = [];
    for (const { event } of batch) {
      failpoints.hit("recovery:mid-replay");
      count++;
      for (const entry of indexEntries(eventRecord(event))) if (entry.kind !== "event") checks.push({ entry, event });
    }
    const problem = await settle();
    if (problem !== null || rollback !== null) return { events: count, problem, rollback };
    pending = { checks, values: kv.getMany(checks.map((c) => c.entry.key)) };
  }
  const problem = await settle();
  return { events: count, problem, rollback };
}

const INDEX_TABLES = [TABLE_STATE, TABLE_VERSION, TABLE_AGENT_EVENT, TABLE_IDEMPOTENCY_V1, TABLE_IDEMPOTENCY, TABLE_IDEMPOTENCY_EXPIRY];

/**
 * Rebuilds every index from the log after `floor` (the whole log when nothing was compacted).
 * Index entries of commits at or before the floor have no event left to rebuild them from:
 * they are kept as they are (the state at the floor), and the events after it are applied.
 */
async function rebuild(ctx: RecoveryContext, failpoints: Failpoints, floor: number): Promise<{ lastTs: number; events: number }> {
  const { kv } = ctx;
  // Read-only pass first: a damaged log (checksum, gap) is refused before any index is touched.
  for await (const _batch of events(kv, floor, Infinity)) {
    // decoding verifies each event
  }
  kv.writeSync([{ type: "put", key: META_REBUILD, value: REBUILD_FULL }], true);
  for (const table of INDEX_TABLES) await clearTable(kv, table, floor === 0 ? null : (key, value) => entryTs(table, key, value) > floor);
  let lastTs = floor;
  let count = 0;
  for await (const batch of events(kv, floor, Infinity)) {
    const ops: KvOp[] = [];
    for (const { event } of batch) {
      failpoints.hit("recovery:mid-replay");
      count++;
      const expired = event.committedAtMs + ctx.idempotencyWindowMs <= ctx.now;
      for (const entry of indexEntries(eventRecord(event))) {
        // A purged event's idempotency key is the whole transaction's: not re-derivable from what is left.
        const idem = entry.kind === "idempotency" || entry.kind === "idempotency-expiry";
        if (entry.kind === "event" || (idem && (expired || event.purged === true))) continue;
        ops.push({ type: "put", key: entry.key, value: entry.value });
      }
      lastTs = event.commitTs;
    }
    kv.writeSync(ops, false);
  }
  kv.writeSync(
    [
      { type: "put", key: META_COMMIT_TS, value: encodeU64(lastTs) },
      { type: "del", key: META_REBUILD },
    ],
    true,
  );
  return { lastTs, events: count };
}

/**
 * Format 1 kept idempotency keys without namespace or content fingerprint. Each is re-derived
 * from its event (the same entries a commit writes now); the old entry is deleted in the same
 * batch, so an interrupted migration simply continues at the next open.
 */
async function migrateIdempotencyKeys(ctx: RecoveryContext): Promise<number> {
  const { kv } = ctx;
  let moved = 0;
  for (;;) {
    const iterator = kv.iterator({ gte: Buffer.of(TABLE_IDEMPOTENCY_V1), lt: Buffer.of(TABLE_IDEMPOTENCY_V1 + 1), limit: CHUNK });
    let rows;
    try {
      rows = await iterator.next(CHUNK);
    } finally {
      iterator.close();
    }
    if (rows.length === 0) break;
    const raws = await kv.getMany(rows.map(([, value]) => eventKey(decodeU64(value))));
    const ops: KvOp[] = [];
    rows.forEach(([key, value], i) => {
      ops.push({ type: "del", key });
      const raw = raws[i];
      if (raw === undefined) return; // its event is gone: nothing to scope it by (recovery reports the log's state separately)
      const record = eventRecord(decodeEvent(raw, decodeU64(value)));
      if (record.idempotencyKey !== decodeV1IdempotencyKey(key)) return;
      for (const entry of indexEntries(record)) {
        if (entry.kind === "idempotency" || entry.kind === "idempotency-expiry") ops.push({ type: "put", key: entry.key, value: entry.value });
      }
      moved++;
    });
    kv.writeSync(ops, true);
  }
  kv.writeSync([{ type: "put", key: META_FORMAT, value: FORMAT }], true);
  return moved;
}

/** The commit_ts an index entry belongs to (the expiry order's entries count as current: re-put from the log when needed). */
function entryTs(table: number, key: Buffer, value: Buffer): number {
  switch (table) {
    case TABLE_STATE:
      return decodeStateHeader(value).commitTs;
    case TABLE_VERSION:
      return decodeU64(value);
    case TABLE_AGENT_EVENT:
      return decodeU64(key, key.length - 8);
    case TABLE_IDEMPOTENCY:
      return decodeIdempotency(value).commitTs;
    case TABLE_IDEMPOTENCY_EXPIRY:
      return 0;
    default:
      return Infinity;
  }
}

/** Deletes the table's entries (only those `select` picks, when given). */
async function clearTable(kv: OrderedKv, table: number, select: ((key: Buffer, value: Buffer) => boolean) | null): Promise<void> {
  const iterator = kv.iterator({ gte: Buffer.of(table), lt: Buffer.of(table + 1) });
  try {
    for (;;) {
      const rows = await iterator.next(4096);
      if (rows.length === 0) return;
      const doomed = select === null ? rows : rows.filter(([key, value]) => select(key, value));
      if (doomed.length === 0) continue;
      kv.writeSync(
        doomed.map(([key]) => ({ type: "del", key })),
        false,
      );
    }
  } finally {
    iterator.close();
  }
}
