// Imports committed events that keep their own commit_ts, versions and txn ids (history from
// another store, e.g. an original Statehouse 0.1.x daemon's) into an engine store on disk.
//
// It writes while no engine is open on the store (RocksDB's lock guarantees it: an open engine
// or daemon makes this fail with LOCKED), so it never bypasses the commit sequencer of a running
// engine. Every event is written as the sequencer writes one: exactly the entries indexEntries()
// defines, in batches that also move the commit_ts marker, so each batch is atomic and a store
// left by an interrupted import is a valid store that recovery opens. A re-run skips the events
// already there (checking that they are byte for byte the same) and continues after them.
import { resolve, join } from "node:path";
import { META_COMMIT_TS } from "./commit-sequencer.ts";
import { EngineError } from "./engine-error.ts";
import { eventRecord, indexEntries, type EventRecord } from "./index-entries.ts";
import { decodeU64, encodeU64, eventKey } from "./key-encoding.ts";
import { openEngine } from "./open-engine.ts";
import type { KvOp } from "./storage/ordered-kv.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import type { JsonObject } from "./types.ts";

export interface ImportOperation {
  namespace: string;
  agentId: string;
  key: string;
  /** The record's version after this operation (as the source numbered it). */
  version: number;
  /** null: a delete. */
  value: JsonObject | null;
}

export interface ImportEvent {
  txnId: string;
  commitTs: number;
  /** Wall-clock commit time in ms since the epoch (0 when the source did not record it). */
  committedAtMs: number;
  operations: readonly ImportOperation[];
}

export interface ImportOptions {
  /** Events per atomic batch (default 500). */
  batchEvents?: number;
  /** fsync every batch (default true). */
  fsync?: boolean;
  /** Called after every batch is durable. */
  onProgress?: (progress: ImportProgress) => void;
}

export interface ImportProgress {
  /** The store's commit_ts after the batches written so far. */
  commitTs: number;
  /** Events written by this run. */
  imported: number;
  /** Source events found already in the store (an earlier run), identical. */
  alreadyPresent: number;
  /** Empty events written where the source skipped a commit_ts (the engine's log is dense); no agent sees them. */
  gapsFilled: number;
}

const DEFAULT_BATCH_EVENTS = 500;

/** The txn id of the empty event that fills commit_ts `ts` when the source has no event there. */
export function gapTxnId(ts: number): string {
  return `import-gap-${ts}`;
}

/** What the event writes: the same EventRecord a stored event has (imported events carry no idempotency key). */
function record(event: ImportEvent): EventRecord {
  return eventRecord({ ...event, idempotencyKey: null });
}

function check(event: ImportEvent, previous: number): void {
  if (!Number.isSafeInteger(event.commitTs) || event.commitTs <= previous) {
    throw new EngineError("INVALID_ARGUMENT", `import: commit_ts ${event.commitTs} of txn ${event.txnId} does not follow ${previous} (events must come in increasing commit_ts order)`);
  }
  if (typeof event.txnId !== "string" || event.txnId === "") throw new EngineError("INVALID_ARGUMENT", `import: event ${event.commitTs} has no txn id`);
  if (!Number.isSafeInteger(event.committedAtMs) || event.committedAtMs < 0) throw new EngineError("INVALID_ARGUMENT", `import: event ${event.commitTs} has an invalid committedAtMs`);
  for (const op of event.operations) {
    if (!Number.isSafeInteger(op.version) || op.version < 1) throw new EngineError("INVALID_ARGUMENT", `import: event ${event.commitTs} has version ${op.version} for ${op.agentId}/${op.key}`);
  }
}

/**
 * Imports `events` (in increasing commit_ts order) into the engine store in `dataDir`
 * (created if missing). Resolves to what was done; rejects with INVALID_ARGUMENT when the
 * store holds a different event at one of the source's commit_ts, or LOCKED while an engine
 * has it open. Safe to re-run, and to re-run after an interrupted run: it resumes.
 */
export async function importEvents(dataDir: string, events: AsyncIterable<ImportEvent> | Iterable<ImportEvent>, options: ImportOptions = {}): Promise<ImportProgress> {
  const batchEvents = options.batchEvents ?? DEFAULT_BATCH_EVENTS;
  if (!Number.isSafeInteger(batchEvents) || batchEvents < 1) throw new TypeError("batchEvents must be a positive integer");
  const fsync = options.fsync ?? true;
  const root = resolve(dataDir);
  // Open (and close) an engine first: it creates the store with its format marker, or runs
  // recovery on what an earlier run left, so the batches below extend a store recovery accepts.
  await (await openEngine({ dataDir: root, snapshotInterval: 0 })).close();
  const kv = await RocksKv.open(join(root, "db"));
  try {
    const [rawTs] = kv.getManySync([META_COMMIT_TS]);
    let committed = rawTs === undefined ? 0 : decodeU64(rawTs);
    const progress: ImportProgress = { commitTs: committed, imported: 0, alreadyPresent: 0, gapsFilled: 0 };
    let ops: KvOp[] = [];
    let pending = 0;
    const flush = (): void => {
      if (pending === 0) return;
      ops.push({ type: "put", key: META_COMMIT_TS, value: encodeU64(committed) });
      kv.writeSync(ops, fsync);
      progress.commitTs = committed;
      ops = [];
      pending = 0;
      options.onProgress?.({ ...progress });
    };
    const add = (entries: EventRecord): void => {
      for (const entry of indexEntries(entries)) ops.push({ type: "put", key: entry.key, value: entry.value });
      committed = entries.commitTs;
      pending++;
    };
    let previous = 0;
    for await (const event of events) {
      check(event, previous);
      previous = event.commitTs;
      const entries = record(event);
      if (event.commitTs <= committed) {
        const [stored] = await kv.getMany([eventKey(event.commitTs)]);
        const expected = indexEntries(entries)[0]?.value;
        if (stored === undefined || expected === undefined || !stored.equals(expected)) {
          throw new EngineError("INVALID_ARGUMENT", `import: the store already holds a different event at commit_ts ${event.commitTs} (txn ${event.txnId}): it holds other data`);
        }
        progress.alreadyPresent++;
        continue;
      }
      for (let ts = committed + 1; ts < event.commitTs; ts++) {
        add({ txnId: gapTxnId(ts), commitTs: ts, committedAtMs: event.committedAtMs, idempotencyKey: null, operations: [] });
        progress.gapsFilled++;
        if (pending >= batchEvents) flush();
      }
      add(entries);
      progress.imported++;
      if (pending >= batchEvents) flush();
    }
    flush();
    return progress;
  } finally {
    await kv.close();
  }
}
