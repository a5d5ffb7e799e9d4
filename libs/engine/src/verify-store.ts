// Offline consistency check of a data directory (`statehoused verify DIR`): log ↔ indexes ↔
// state ↔ snapshots, both ways. Read-only; it needs the store closed (RocksDB's lock).
//   1. the log: format marker, every event's checksum and commit_ts, no gap from the log floor
//      to the commit_ts marker, nothing beyond it;
//   2. log → indexes: every entry each event implies (index-entries.ts), as recovery checks them,
//      history behind a retention horizon excepted;
//   3. indexes → log: every state, version, agent-event and idempotency entry is backed by its
//      event (or lies behind the log floor, where the indexes are the only copy), no entry is
//      newer than the log;
//   4. snapshots: each file's checksum, and the event it names;
//   5. interrupted work: a pending purge intent, an interrupted index rebuild.
import { crc32 } from "node:zlib";
import { join } from "node:path";
import { Failpoints } from "./failpoints.ts";
import { decodeIdempotency, eventRecord, indexEntries } from "./index-entries.ts";
import {
  decodeRecordKey,
  decodeString,
  decodeU64,
  eventKey,
  idempotencyExpiryKey,
  metaKey,
  TABLE_AGENT_EVENT,
  TABLE_EVENT,
  TABLE_IDEMPOTENCY,
  TABLE_STATE,
  TABLE_VERSION,
  versionKey,
} from "./key-encoding.ts";
import { META_COMMIT_TS } from "./commit-sequencer.ts";
import { loadPurgeIntents } from "./purge.ts";
import { decodeEvent, decodeStateHeader, type StoredEvent } from "./record-codec.ts";
import { checkEntry, sameAgentSlice } from "./recovery.ts";
import { RetentionTable } from "./retention.ts";
import { SnapshotStore } from "./snapshot-store.ts";
import type { OrderedKv } from "./storage/ordered-kv.ts";
import { RocksKv } from "./storage/rocks-kv.ts";

export type VerifyPhase = "log" | "state" | "versions" | "agent-events" | "idempotency" | "snapshots";

export interface VerifyFinding {
  /** What was checked when it was found. */
  phase: VerifyPhase | "store";
  message: string;
}

export interface VerifyProgress {
  phase: VerifyPhase;
  /** Entries checked in this phase so far. */
  done: number;
  /** Entries this phase will check, when known (the log: its events). */
  total: number | null;
}

export interface VerifyOptions {
  /** How long idempotency keys are kept (the daemon's window): older ones may be purged. Default 24 h. */
  idempotencyWindowMs?: number;
  /** Stop collecting after this many findings (the check still ends). Default 100. */
  maxFindings?: number;
  onProgress?: (progress: VerifyProgress) => void;
  /** Milliseconds since the epoch. Default Date.now. */
  clock?: () => number;
}

export interface VerifyReport {
  dataDir: string;
  commitTs: number;
  logFloor: number;
  counts: Record<VerifyPhase, number>;
  findings: VerifyFinding[];
  /** Findings beyond maxFindings that were counted but not kept. */
  moreFindings: number;
}

const CHUNK = 1000;
const FORMAT = "statehouse-engine/2";

/** Verifies `<dataDir>/db` and `<dataDir>/snapshots`. Throws EngineError LOCKED while a daemon holds the store. */
export async function verifyStore(dataDir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const kv = await RocksKv.open(join(dataDir, "db"));
  try {
    return await verifyKv(kv, dataDir, options);
  } finally {
    await kv.close();
  }
}

/** The same check over any store (tests use the memory backend too). */
export async function verifyKv(kv: OrderedKv, dataDir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const maxFindings = options.maxFindings ?? 100;
  const ctx = { now: (options.clock ?? Date.now)(), idempotencyWindowMs: options.idempotencyWindowMs ?? 24 * 60 * 60 * 1000 };
  const report: VerifyReport = {
    dataDir,
    commitTs: 0,
    logFloor: 0,
    counts: { log: 0, state: 0, versions: 0, "agent-events": 0, idempotency: 0, snapshots: 0 },
    findings: [],
    moreFindings: 0,
  };
  const find = (phase: VerifyFinding["phase"], message: string): void => {
    if (report.findings.length < maxFindings) report.findings.push({ phase, message });
    else report.moreFindings++;
  };
  const progress = (phase: VerifyPhase, total: number | null): void => options.onProgress?.({ phase, done: report.counts[phase], total });

  const [rawTs, format, rebuild] = await kv.getMany([META_COMMIT_TS, metaKey("format"), metaKey("rebuild-in-progress")]);
  if (format === undefined) find("store", "no statehouse-engine format marker");
  else if (format.toString("utf8") !== FORMAT) find("store", `store format ${format.toString("utf8")} (this check reads ${FORMAT}; start the daemon once to upgrade)`);
  if (rebuild !== undefined) find("store", "an index rebuild was interrupted (the next start rebuilds)");
  for (const intent of await loadPurgeIntents(kv)) {
    find("store", `purge ${intent.id} of ${intent.agentId === null ? `namespace ${intent.namespace}` : `${intent.namespace}/${intent.agentId}`} is unfinished (the next start completes it)`);
  }
  const retention = await RetentionTable.load(kv);
  const floor = retention.logFloor;
  const lastTs = rawTs === undefined ? 0 : decodeU64(rawTs);
  report.commitTs = lastTs;
  report.logFloor = floor;
  if (floor > lastTs) find("log", `the log floor ${floor} is beyond the commit_ts marker ${lastTs}`);

  // 1 + 2: the log, and what each event implies.
  const total = Math.max(0, lastTs - floor);
  let expected = floor + 1;
  await scan(kv, Buffer.of(TABLE_EVENT), Buffer.of(TABLE_EVENT + 1), async (rows) => {
    const decoded: StoredEvent[] = [];
    for (const [key, value] of rows) {
      const ts = decodeU64(key, 1);
      report.counts.log++;
      if (ts <= floor) find("log", `event ${ts} is at or before the log floor ${floor} (should have been compacted)`);
      else if (ts > lastTs) find("log", `event ${ts} is beyond the commit_ts marker ${lastTs}`);
      if (ts > expected) find("log", `gap in the log: commit_ts ${expected}${ts - 1 > expected ? `..${ts - 1}` : ""} missing`);
      expected = Math.max(expected, ts + 1);
      try {
        decoded.push(decodeEvent(value, ts));
      } catch (error) {
        find("log", (error as Error).message);
      }
    }
    const checks = decoded.flatMap((event) => indexEntries(eventRecord(event)).filter((e) => e.kind !== "event").map((entry) => ({ entry, event })));
    const stored = await kv.getMany(checks.map((c) => c.entry.key));
    checks.forEach(({ entry, event }, i) => {
      const finding = checkEntry(entry, stored[i], event, lastTs, ctx, retention);
      if (finding === null) return;
      find("log", "problem" in finding ? finding.problem : finding.rollback);
    });
    progress("log", total);
  });
  if (expected <= lastTs) find("log", `the log ends at commit_ts ${expected - 1}, the commit_ts marker says ${lastTs}`);

  // 3: every index entry backed by its event.
  const eventAt = async (timestamps: number[]): Promise<Map<number, StoredEvent | null>> => {
    const wanted = [...new Set(timestamps.filter((ts) => ts > floor && ts <= lastTs))];
    const raws = await kv.getMany(wanted.map((ts) => eventKey(ts)));
    const out = new Map<number, StoredEvent | null>();
    wanted.forEach((ts, i) => {
      const raw = raws[i];
      try {
        out.set(ts, raw === undefined ? null : decodeEvent(raw, ts));
      } catch {
        out.set(ts, null); // reported by the log phase
      }
    });
    return out;
  };
  await scan(kv, Buffer.of(TABLE_STATE), Buffer.of(TABLE_STATE + 1), async (rows) => {
    const headers = rows.map(([key, value]) => ({ key, record: decodeRecordKey(key), header: decodeStateHeader(value) }));
    const events = await eventAt(headers.map((h) => h.header.commitTs));
    const versions = await kv.getMany(headers.map((h) => versionKey(h.key, h.header.version)));
    headers.forEach(({ record, header }, i) => {
      report.counts.state++;
      const where = `${record.namespace}/${record.agentId}/${record.key}`;
      if (header.commitTs > lastTs) return find("state", `state of ${where} was written at commit_ts ${header.commitTs}, after the end of the log (${lastTs})`);
      const version = versions[i];
      if (version === undefined || decodeU64(version) !== header.commitTs) find("state", `state of ${where} (version ${header.version}) has no matching version entry`);
      if (header.commitTs <= floor) return;
      const op = events.get(header.commitTs)?.operations.find((o) => o.namespace === record.namespace && o.agentId === record.agentId && o.key === record.key);
      if (op === undefined || op.version !== header.version || (op.value !== null) !== header.exists) find("state", `state of ${where} is not what event ${header.commitTs} wrote`);
    });
    progress("state", null);
  });
  await scan(kv, Buffer.of(TABLE_VERSION), Buffer.of(TABLE_VERSION + 1), async (rows) => {
    const entries = rows.map(([key, value]) => {
      const record = decodeRecordKey(key);
      return { record, version: decodeU64(key, record.next), ts: decodeU64(value) };
    });
    const events = await eventAt(entries.map((e) => e.ts));
    for (const { record, version, ts } of entries) {
      report.counts.versions++;
      const where = `${record.namespace}/${record.agentId}/${record.key}@${version}`;
      if (ts > lastTs) {
        find("versions", `version entry ${where} points at commit_ts ${ts}, after the end of the log (${lastTs})`);
        continue;
      }
      if (ts <= floor) continue;
      const op = events.get(ts)?.operations.find((o) => o.namespace === record.namespace && o.agentId === record.agentId && o.key === record.key);
      if (op?.version !== version) find("versions", `version entry ${where} is not backed by event ${ts}`);
    }
    progress("versions", null);
  });
  await scan(kv, Buffer.of(TABLE_AGENT_EVENT), Buffer.of(TABLE_AGENT_EVENT + 1), async (rows) => {
    const entries = rows.map(([key, value]) => {
      const ns = decodeString(key, 1);
      const agent = decodeString(key, ns.next);
      return { key, namespace: ns.value, agentId: agent.value, ts: decodeU64(key, key.length - 8), value };
    });
    const events = await eventAt(entries.map((e) => e.ts));
    for (const entry of entries) {
      report.counts["agent-events"]++;
      const where = `agent-event entry ${entry.namespace}/${entry.agentId}@${entry.ts}`;
      if (entry.ts > lastTs) {
        find("agent-events", `${where} is after the end of the log (${lastTs})`);
        continue;
      }
      if (entry.ts <= floor) continue;
      const event = events.get(entry.ts);
      const slice = event === undefined || event === null ? undefined : indexEntries(eventRecord(event)).find((e) => e.kind === "agent-event" && e.key.equals(entry.key));
      if (slice === undefined || !sameAgentSlice(entry.value, slice.value, entry.ts)) find("agent-events", `${where} is not backed by the log`);
    }
    progress("agent-events", null);
  });
  await scan(kv, Buffer.of(TABLE_IDEMPOTENCY), Buffer.of(TABLE_IDEMPOTENCY + 1), async (rows) => {
    const entries = rows.map(([key, value]) => {
      const ns = decodeString(key, 1);
      return { namespace: ns.value, name: decodeString(key, ns.next).value, record: decodeIdempotency(value) };
    });
    const expiries = await kv.getMany(entries.map((e) => idempotencyExpiryKey(e.record.createdAtMs, e.namespace, e.name)));
    entries.forEach((entry, i) => {
      report.counts.idempotency++;
      if (entry.record.commitTs > lastTs) find("idempotency", `idempotency key ${entry.namespace}/${entry.name} points at commit_ts ${entry.record.commitTs}, after the end of the log`);
      if (expiries[i] === undefined) find("idempotency", `idempotency key ${entry.namespace}/${entry.name} has no expiry entry (it would never be purged)`);
    });
    progress("idempotency", null);
  });

  // 4: snapshots.
  const snapshots = new SnapshotStore(join(dataDir, "snapshots"), Number.MAX_SAFE_INTEGER, new Failpoints(undefined));
  await snapshots.init();
  for (const info of await snapshots.list()) {
    report.counts.snapshots++;
    const check = await snapshots.check(info);
    if (!check.ok) {
      find("snapshots", `snapshot ${info.file}: ${check.reason}`);
      continue;
    }
    if (info.commitTs > lastTs) find("snapshots", `snapshot ${info.file} records commit_ts ${info.commitTs} as durable, but the log ends at ${lastTs}`);
    else if (info.commitTs > floor && check.eventCrc !== null) {
      const [raw] = await kv.getMany([eventKey(info.commitTs)]);
      if (raw === undefined) find("snapshots", `snapshot ${info.file} names event ${info.commitTs}, which the log lacks`);
      else if (crc32(raw) !== check.eventCrc && !purgedEvent(raw, info.commitTs)) find("snapshots", `snapshot ${info.file} recorded another event at commit_ts ${info.commitTs} than the log holds`);
    }
    progress("snapshots", null);
  }
  return report;
}

function purgedEvent(raw: Buffer, ts: number): boolean {
  try {
    return decodeEvent(raw, ts).purged === true;
  } catch {
    return false;
  }
}

async function scan(kv: OrderedKv, gte: Buffer, lt: Buffer, each: (rows: [Buffer, Buffer][]) => Promise<void>): Promise<void> {
  const iterator = kv.iterator({ gte, lt, chunkBytes: 4 * 1024 * 1024 });
  try {
    for (;;) {
      const rows = await iterator.next(CHUNK);
      if (rows.length === 0) return;
      await each(rows);
    }
  } finally {
    iterator.close();
  }
}
