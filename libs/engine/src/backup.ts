// Online backup and restore of a whole store (issue 16, daemon README "Backup and restore").
//
// Backup: one iterator over the entire keyspace. A RocksDB iterator reads from the implicit
// snapshot taken when it is created, and the commit sequencer writes each group commit as one
// atomic batch (events, indexes and the commit_ts marker together), so the iterator sees the
// store exactly as of one commit_ts: the marker it reads first (the meta table sorts first).
// Writes go on meanwhile; the snapshot only keeps RocksDB from dropping the overwritten
// versions until the iterator is closed.
//
// Restore: the entries are written into a fresh RocksDB beside the target (`db.restoring`),
// which recovery then checks in full (every event's checksum, every index entry it implies)
// before it replaces `db/`. When the target already holds a store, its last commit is first
// recorded as a checkpoint in the target's snapshots/: restoring a backup older than (or
// diverging from) that history is then exactly the rollback that recovery refuses with
// CORRUPTION, and accepts only with recoveryMode "accept-rollback".
import { crc32 } from "node:zlib";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EngineError } from "./engine-error.ts";
import { Failpoints } from "./failpoints.ts";
import { decodeU64, eventKey, TABLE_META } from "./key-encoding.ts";
import { META_COMMIT_TS } from "./commit-sequencer.ts";
import { openEngineOn } from "./open-engine.ts";
import { META_FORMAT, type RecoveryMode } from "./recovery.ts";
import { SnapshotStore } from "./snapshot-store.ts";
import type { KvEntry, KvOp, ReadableKv } from "./storage/ordered-kv.ts";
import { RocksKv, type RocksMemoryOptions } from "./storage/rocks-kv.ts";
import type { EngineLogger, RecoveryReport } from "./types.ts";

/** Default bound of one chunk's keys plus values. */
export const BACKUP_CHUNK_BYTES = 1024 * 1024;
const CHUNK_ENTRIES = 4096;
/** Entries written per (unsynced) batch while restoring; the last batch is synced. */
const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;
const KEYSPACE_START = Buffer.of(0x00);
const KEYSPACE_END = Buffer.alloc(9, 0xff);

/** A consistent copy of the whole store, read lazily from one storage snapshot. */
export interface StoreBackup {
  /** The store as of exactly this commit_ts. */
  readonly commitTs: bigint;
  /** The store format marker, e.g. "statehouse-engine/2". */
  readonly storeFormat: string;
  /** RocksDB's estimate of the number of entries (0 when unknown); for progress only. */
  readonly estimatedEntries: number;
  /** Every entry in key order, in chunks of about `chunkBytes`; read once. */
  chunks(): AsyncIterable<KvEntry[]>;
  /** Releases the snapshot (also done at the end of chunks()). Idempotent. */
  close(): void;
}

export async function openStoreBackup(kv: ReadableKv, options: { chunkBytes?: number } = {}): Promise<StoreBackup> {
  const chunkBytes = options.chunkBytes ?? BACKUP_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new TypeError("chunkBytes must be a positive integer");
  const iterator = kv.iterator({ gte: KEYSPACE_START, lt: KEYSPACE_END, snapshot: true, chunkBytes });
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    iterator.close();
  };
  // The meta table sorts first: read it from the same snapshot to learn the commit_ts.
  const head: KvEntry[] = [];
  let ended = false;
  try {
    for (;;) {
      const rows = await iterator.next(CHUNK_ENTRIES);
      if (rows.length === 0) {
        ended = true;
        break;
      }
      head.push(...rows);
      if ((rows[rows.length - 1]?.[0][0] ?? 0) > TABLE_META) break;
    }
  } catch (error) {
    close();
    throw error;
  }
  const meta = (key: Buffer): Buffer | undefined => head.find(([k]) => k.equals(key))?.[1];
  const rawTs = meta(META_COMMIT_TS);
  const format = meta(META_FORMAT);
  if (format === undefined) {
    close();
    throw new EngineError("STORAGE_ERROR", "the store has no format marker: nothing to back up");
  }
  let used = false;
  return {
    commitTs: BigInt(rawTs === undefined ? 0 : decodeU64(rawTs)),
    storeFormat: format.toString("utf8"),
    estimatedEntries: kv.estimatedEntries?.() ?? 0,
    close,
    chunks: async function* () {
      if (used) throw new TypeError("a backup's chunks can be read once");
      used = true;
      try {
        yield* split(head, chunkBytes);
        while (!ended) {
          const rows = await iterator.next(CHUNK_ENTRIES);
          if (rows.length === 0) ended = true;
          else yield* split(rows, chunkBytes);
        }
      } finally {
        close();
      }
    },
  };
}

/** Chunks of at most chunkBytes (keys plus values); an entry larger than that goes alone. */
function* split(rows: readonly KvEntry[], chunkBytes: number): Generator<KvEntry[]> {
  let chunk: KvEntry[] = [];
  let bytes = 0;
  for (const entry of rows) {
    const size = entry[0].length + entry[1].length;
    if (chunk.length > 0 && bytes + size > chunkBytes) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

export interface RestoreOptions {
  /** The data directory to restore into (its db/ and snapshots/). */
  dataDir: string;
  /** The backup's entries in key order (as StoreBackup.chunks() yielded them). */
  entries: AsyncIterable<KvEntry[]>;
  /** The commit_ts the backup claims; restore fails unless the restored store holds exactly it. */
  commitTs: bigint;
  /** The store format the backup claims. */
  storeFormat: string;
  /** Replace an existing store in dataDir (its db/ is kept as db.before-restore-<time>). */
  replace?: boolean;
  /** Recovery mode of the check: "accept-rollback" is the operator's explicit choice to go back in history. */
  recoveryMode?: RecoveryMode;
  memory?: RocksMemoryOptions;
  logger?: EngineLogger;
  onProgress?: (progress: { entries: number; bytes: number }) => void;
  /** Milliseconds since the epoch (names the kept db). */
  clock?: () => number;
}

export interface RestoreReport {
  dataDir: string;
  commitTs: bigint;
  entries: number;
  bytes: number;
  /** The commit_ts the replaced store had reached (null: there was none). */
  replacedCommitTs: bigint | null;
  /** Where the replaced db/ was moved (null: nothing replaced). */
  replacedDbKeptAt: string | null;
  recovery: RecoveryReport;
}

/** Restores a backup into dataDir; see the file comment. The target must not be in use (its RocksDB lock). */
export async function restoreStore(options: RestoreOptions): Promise<RestoreReport> {
  const dataDir = resolve(options.dataDir);
  const clock = options.clock ?? Date.now;
  const target = join(dataDir, "db");
  const staging = join(dataDir, "db.restoring");
  await mkdir(dataDir, { recursive: true });
  const existing = await nonEmpty(target);
  if (!options.replace) {
    const occupied = (await nonEmpty(target)) || (await nonEmpty(join(dataDir, "snapshots")));
    if (occupied) {
      throw new EngineError("INVALID_ARGUMENT", `${dataDir} already holds a store: restore into an empty data directory, or pass replace (--replace) to replace it`, {
        details: { dataDir },
      });
    }
  }
  await rm(staging, { recursive: true, force: true });
  const written = await writeEntries(staging, options);
  const replaced = existing ? await recordTargetHistory(target, dataDir) : null;
  // Recovery checks the restored store against the target's snapshots (and the checkpoint just written).
  const kv = await RocksKv.open(staging, options.memory);
  const engine = await openEngineOn(kv, dataDir, {
    recoveryMode: options.recoveryMode ?? "auto",
    snapshotInterval: 0,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  }).catch(async (error: unknown) => {
    await rm(staging, { recursive: true, force: true });
    if (error instanceof EngineError && error.code === "CORRUPTION" && replaced !== null && (options.recoveryMode ?? "auto") !== "accept-rollback") {
      throw new EngineError(
        "CORRUPTION",
        `the backup (commit_ts ${options.commitTs}) is not the history of the store in ${dataDir} (commit_ts ${replaced}): replacing it would lose acknowledged commits. ` +
          `Nothing was changed. To go back to the backup's state on purpose, run restore again with --recovery-mode accept-rollback. (${error.message})`,
        { cause: error, details: { ...error.details, backupCommitTs: String(options.commitTs), targetCommitTs: String(replaced) } },
      );
    }
    throw error;
  });
  const recovery = engine.recovery;
  const restoredTs = engine.commitTs();
  await engine.close();
  if (restoredTs !== options.commitTs) {
    await rm(staging, { recursive: true, force: true });
    throw new EngineError("CORRUPTION", `the restored store ends at commit_ts ${restoredTs}, but the backup claims ${options.commitTs}`);
  }
  let keptAt: string | null = null;
  if (existing) {
    keptAt = join(dataDir, `db.before-restore-${new Date(clock()).toISOString().replace(/[:.]/g, "-")}`);
    await rename(target, keptAt);
  }
  await rename(staging, target);
  return { dataDir, commitTs: restoredTs, entries: written.entries, bytes: written.bytes, replacedCommitTs: replaced, replacedDbKeptAt: keptAt, recovery };
}

async function writeEntries(staging: string, options: RestoreOptions): Promise<{ entries: number; bytes: number }> {
  const kv = await RocksKv.open(staging, options.memory);
  let entries = 0;
  let bytes = 0;
  let previous: Buffer | null = null;
  let ops: KvOp[] = [];
  let batchBytes = 0;
  let commitTs: bigint | null = null;
  let format: string | null = null;
  try {
    for await (const chunk of options.entries) {
      for (const [key, value] of chunk) {
        if (previous !== null && Buffer.compare(previous, key) >= 0) {
          throw new EngineError("CORRUPTION", `backup entries are not in strictly ascending key order at entry ${entries + 1}`);
        }
        previous = key;
        if (key.equals(META_COMMIT_TS)) commitTs = BigInt(decodeU64(value));
        if (key.equals(META_FORMAT)) format = value.toString("utf8");
        ops.push({ type: "put", key, value });
        entries++;
        bytes += key.length + value.length;
        batchBytes += key.length + value.length;
        if (batchBytes >= RESTORE_BATCH_BYTES) {
          kv.writeSync(ops, false);
          ops = [];
          batchBytes = 0;
          options.onProgress?.({ entries, bytes });
        }
      }
    }
    if (format !== options.storeFormat) {
      throw new EngineError("CORRUPTION", `the backup's entries carry store format ${format ?? "none"}, its manifest says ${options.storeFormat}`);
    }
    if ((commitTs ?? 0n) !== options.commitTs) {
      throw new EngineError("CORRUPTION", `the backup's entries end at commit_ts ${commitTs ?? 0n}, its manifest says ${options.commitTs}`);
    }
    // Synced: with the WAL fsynced, every earlier batch is durable too.
    kv.writeSync(ops, true);
    options.onProgress?.({ entries, bytes });
  } catch (error) {
    await kv.close().catch(() => undefined);
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  await kv.close();
  return { entries, bytes };
}

/**
 * Records the target store's last commit as a checkpoint in its snapshots/ (the engine's own
 * rollback evidence), so that recovery refuses a backup that does not continue to it.
 */
async function recordTargetHistory(target: string, dataDir: string): Promise<bigint> {
  const kv = await RocksKv.open(target);
  try {
    const [rawTs] = kv.getManySync([META_COMMIT_TS]);
    const ts = rawTs === undefined ? 0 : decodeU64(rawTs);
    if (ts > 0) {
      const [event] = await kv.getMany([eventKey(ts)]);
      if (event !== undefined) {
        const store = new SnapshotStore(join(dataDir, "snapshots"), Number.MAX_SAFE_INTEGER, new Failpoints(undefined));
        await store.init();
        await store.write(ts, crc32(event));
      }
    }
    return BigInt(ts);
  } finally {
    await kv.close();
  }
}

async function nonEmpty(dir: string): Promise<boolean> {
  try {
    if (!(await stat(dir)).isDirectory()) return true;
    return (await readdir(dir)).length > 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}
