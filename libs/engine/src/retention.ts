// Retention policies and history horizons, per namespace (or the default for namespaces
// without their own), persisted in the meta table.
//
// A namespace's horizon H is a commit_ts: its history up to H may be gone (compacted), its
// history after H is complete, and every key's version that was current at H is kept. So
// as-of reads at H or later answer exactly, and applying the events after H to the state at H
// gives the current state. The event log itself keeps every event after the log floor
// F = min(every horizon, the default's included): events at or before F are gone for all.
import { decodeU64, decodeString, encodeU64, metaKey, prefixEnd, RETENTION_PREFIX, retentionKey } from "./key-encoding.ts";
import type { KvOp, OrderedKv } from "./storage/ordered-kv.ts";
import type { RetentionPolicy } from "./types.ts";

/** Meta key of the default retention record. */
export const META_RETENTION_DEFAULT = metaKey("retention-default");
/** Meta key of the log floor: events at or before it are gone from the event log. */
export const META_LOG_FLOOR = metaKey("log-floor");

export interface RetentionEntry {
  policy: RetentionPolicy;
  /** Commit_ts up to which this entry's history may be compacted. */
  horizon: number;
  /** True once a keep-versions pass dropped version entries here (stays true under any later policy). */
  versionsDropped?: boolean;
}

export const KEEP_ALL: RetentionPolicy = { kind: "all" };

/** Validates a policy from the outside; throws TypeError naming the problem. */
export function checkPolicy(policy: unknown): RetentionPolicy {
  if (typeof policy !== "object" || policy === null) throw new TypeError("retention policy must be an object");
  const { kind } = policy as { kind?: unknown };
  if (kind === "all") return KEEP_ALL;
  if (kind === "duration") {
    const keepMs = (policy as { keepMs?: unknown }).keepMs;
    if (typeof keepMs !== "number" || !Number.isSafeInteger(keepMs) || keepMs < 1) throw new TypeError("retention keepMs must be a positive integer (milliseconds)");
    return { kind: "duration", keepMs };
  }
  if (kind === "versions") {
    const keepVersions = (policy as { keepVersions?: unknown }).keepVersions;
    if (typeof keepVersions !== "number" || !Number.isSafeInteger(keepVersions) || keepVersions < 1) throw new TypeError("retention keepVersions must be a positive integer (versions kept per key)");
    return { kind: "versions", keepVersions };
  }
  throw new TypeError(`retention policy kind must be "all", "duration" or "versions", got ${JSON.stringify(kind)}`);
}

function encodeEntry(entry: RetentionEntry): Buffer {
  const record: Record<string, unknown> = { policy: entry.policy, horizon: entry.horizon };
  if (entry.versionsDropped === true) record.versionsDropped = true;
  return Buffer.from(JSON.stringify(record), "utf8");
}

function decodeEntry(raw: Buffer): RetentionEntry {
  const parsed = JSON.parse(raw.toString("utf8")) as { policy: unknown; horizon: unknown; versionsDropped?: unknown };
  if (typeof parsed.horizon !== "number" || !Number.isSafeInteger(parsed.horizon) || parsed.horizon < 0) throw new RangeError("retention record has a bad horizon");
  const entry: RetentionEntry = { policy: checkPolicy(parsed.policy), horizon: parsed.horizon };
  if (parsed.versionsDropped === true) entry.versionsDropped = true;
  return entry;
}

/** The policies and horizons in memory; every change goes to storage through `ops()` in one batch. */
export class RetentionTable {
  defaultEntry: RetentionEntry;
  readonly namespaces: Map<string, RetentionEntry>;
  logFloor: number;

  constructor(defaultEntry: RetentionEntry = { policy: KEEP_ALL, horizon: 0 }, namespaces = new Map<string, RetentionEntry>(), logFloor = 0) {
    this.defaultEntry = defaultEntry;
    this.namespaces = namespaces;
    this.logFloor = logFloor;
  }

  /** Reads the table from storage (absent records: keep everything, horizon 0). */
  static async load(kv: OrderedKv): Promise<RetentionTable> {
    const [rawDefault, rawFloor] = await kv.getMany([META_RETENTION_DEFAULT, META_LOG_FLOOR]);
    const namespaces = new Map<string, RetentionEntry>();
    const iterator = kv.iterator({ gte: RETENTION_PREFIX, lt: prefixEnd(RETENTION_PREFIX) });
    try {
      for (;;) {
        const rows = await iterator.next(256);
        if (rows.length === 0) break;
        for (const [key, value] of rows) namespaces.set(decodeString(key, RETENTION_PREFIX.length).value, decodeEntry(value));
      }
    } finally {
      iterator.close();
    }
    const defaultEntry = rawDefault === undefined ? undefined : decodeEntry(rawDefault);
    return new RetentionTable(defaultEntry, namespaces, rawFloor === undefined ? 0 : decodeU64(rawFloor));
  }

  /** The entry that governs a namespace: its own, or the default. */
  entryOf(namespace: string): RetentionEntry {
    return this.namespaces.get(namespace) ?? this.defaultEntry;
  }

  horizonOf(namespace: string): number {
    return this.entryOf(namespace).horizon;
  }

  /** Every entry, the default under `null`. */
  entries(): [string | null, RetentionEntry][] {
    return [[null, this.defaultEntry], ...this.namespaces.entries()];
  }

  /** The lowest horizon: every namespace's history up to it is compacted, so the log may drop it. */
  floor(): number {
    let floor = this.defaultEntry.horizon;
    for (const entry of this.namespaces.values()) floor = Math.min(floor, entry.horizon);
    return floor;
  }

  /** Writes for a changed entry (`null` = the default). */
  entryOp(namespace: string | null, entry: RetentionEntry): KvOp {
    return { type: "put", key: namespace === null ? META_RETENTION_DEFAULT : retentionKey(namespace), value: encodeEntry(entry) };
  }

  floorOp(floor: number): KvOp {
    return { type: "put", key: META_LOG_FLOOR, value: encodeU64(floor) };
  }
}
