// Background compaction of the keep-last-N-versions policy ({kind: "versions", keepVersions}).
//
// One pass walks the version index (table 05) in key order, in batches of `batchEvents` entries
// with `pauseMs` between them; each batch runs inside the single writer. For every key of a
// namespace governed by a keep-versions policy whose current version is C, the version entries
// 1..C-N go (those already gone are skipped). What is dropped is a prefix of the key's versions,
// so "version v is compacted" is "v <= C-N"; the current version is never touched (N >= 1).
//
// Only the version index is compacted: the event log and the agent-event index (which holds the
// values) stay, so replay and watch from commit_ts 1 still reproduce the current state and the
// namespace's horizon does not move. The dropped versions become unreadable: getAtVersion and
// as-of reads that would answer with one of them fail with HISTORY_COMPACTED naming what is kept.
// The entry's `versionsDropped` flag is written in the same batch (it tells readers a missing
// version entry is compacted, not corrupt).
import type { CommitSequencer } from "./commit-sequencer.ts";
import { decodeRecordKey, decodeU64, prefixEnd, TABLE_STATE, TABLE_VERSION } from "./key-encoding.ts";
import { decodeStateHeader } from "./record-codec.ts";
import type { CompactionLimits } from "./history-compaction.ts";
import type { RetentionEntry, RetentionTable } from "./retention.ts";
import type { KvOp, OrderedKv } from "./storage/ordered-kv.ts";

/** Runs one keep-versions pass; resolves to the number of version entries dropped. */
export async function compactVersions(kv: OrderedKv, sequencer: CommitSequencer, table: RetentionTable, limits: CompactionLimits): Promise<number> {
  if (!table.entries().some(([, entry]) => entry.policy.kind === "versions")) return 0;
  const start = Buffer.of(TABLE_VERSION);
  const iterator = kv.iterator({ gte: start, lt: prefixEnd(start) });
  let dropped = 0;
  try {
    for (;;) {
      const rows = await iterator.next(limits.batchEvents);
      if (rows.length === 0) break;
      let writes = 0;
      await sequencer.runExclusive(async () => {
        writes = await applyBatch(kv, table, rows.map(([key]) => key));
      });
      dropped += writes;
      if (rows.length < limits.batchEvents) break;
      await new Promise((resolve) => setTimeout(resolve, limits.pauseMs));
    }
  } finally {
    iterator.close();
  }
  return dropped;
}

/** Deletes this batch's version entries that are more than N behind their key's current version; returns how many. */
async function applyBatch(kv: OrderedKv, table: RetentionTable, versionKeys: readonly Buffer[]): Promise<number> {
  const candidates: { key: Buffer; stateKey: Buffer; version: number; entry: RetentionEntry & { policy: { kind: "versions" } } }[] = [];
  for (const key of versionKeys) {
    const record = decodeRecordKey(key);
    const entry = table.entryOf(record.namespace);
    if (entry.policy.kind !== "versions") continue;
    const stateKey = Buffer.from(key.subarray(0, record.next));
    stateKey[0] = TABLE_STATE;
    candidates.push({ key, stateKey, version: decodeU64(key, record.next), entry: entry as RetentionEntry & { policy: { kind: "versions" } } });
  }
  if (candidates.length === 0) return 0;
  const states = await kv.getMany(candidates.map((c) => c.stateKey));
  const writes: KvOp[] = [];
  const flagged = new Set<RetentionEntry>();
  candidates.forEach((c, i) => {
    const raw = states[i];
    if (raw === undefined) return; // no current state (purged): nothing to keep it for, nothing to decide here
    if (c.version > decodeStateHeader(raw).version - c.entry.policy.keepVersions) return;
    writes.push({ type: "del", key: c.key });
    if (c.entry.versionsDropped !== true) flagged.add(c.entry);
  });
  if (writes.length === 0) return 0;
  for (const [namespace, entry] of table.entries()) if (flagged.has(entry)) writes.push(table.entryOp(namespace, { ...entry, versionsDropped: true }));
  await kv.write(writes, false);
  // Only once written: readers treat a missing version entry here as compacted.
  for (const entry of flagged) entry.versionsDropped = true;
  return writes.length - flagged.size;
}
