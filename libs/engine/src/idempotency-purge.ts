// Background purge of idempotency keys older than the window. Expired keys are one range at
// the start of the expiry index (ordered by created-at), so each pass costs what it deletes,
// never the number of keys held. Deletions go through the single writer between batches (on a
// shared store: under its commit lock, which every engine's batches take too).
import type { CommitSequencer } from "./commit-sequencer.ts";
import { decodeIdempotency } from "./index-entries.ts";
import { decodeIdempotencyExpiryKey, encodeU64, idempotencyKey, TABLE_IDEMPOTENCY_EXPIRY } from "./key-encoding.ts";
import { isSharedKv, type EngineKv, type KvOp } from "./storage/ordered-kv.ts";

const PURGE_CHUNK = 1000;

/** Deletes every idempotency key created at or before `cutoffMs`; resolves to the number deleted. */
export async function purgeExpiredIdempotencyKeys(kv: EngineKv, sequencer: CommitSequencer, cutoffMs: number): Promise<number> {
  if (cutoffMs < 0) return 0;
  const upper = Buffer.concat([Buffer.of(TABLE_IDEMPOTENCY_EXPIRY), encodeU64(cutoffMs + 1)]);
  let purged = 0;
  for (;;) {
    const iterator = kv.iterator({ gte: Buffer.of(TABLE_IDEMPOTENCY_EXPIRY), lt: upper, limit: PURGE_CHUNK });
    let rows;
    try {
      rows = await iterator.next(PURGE_CHUNK);
    } finally {
      iterator.close();
    }
    if (rows.length === 0) return purged;
    const expiries = rows.map(([raw]) => ({ raw, ...decodeIdempotencyExpiryKey(raw) }));
    const keys = expiries.map((e) => idempotencyKey(e.namespace, e.key));
    if (isSharedKv(kv)) {
      const locked = await kv.lock(keys);
      const { ops, deleted } = purgeOps(expiries, keys, locked.values);
      await locked.commit(ops, null);
      purged += deleted;
    } else {
      await sequencer.runExclusive(async () => {
        const { ops, deleted } = purgeOps(expiries, keys, await kv.getMany(keys));
        await kv.write(ops, false);
        purged += deleted;
      });
    }
    if (rows.length < PURGE_CHUNK) return purged;
  }
}

/** Deletes the expiry entries and the idempotency keys they still describe. */
function purgeOps(
  expiries: readonly { raw: Buffer; createdAtMs: number }[],
  keys: readonly Buffer[],
  current: readonly (Buffer | undefined)[],
): { ops: KvOp[]; deleted: number } {
  const ops: KvOp[] = [];
  let deleted = 0;
  expiries.forEach((expiry, i) => {
    ops.push({ type: "del", key: expiry.raw });
    const raw = current[i];
    // A key reused after its window belongs to the newer commit: only its old expiry entry goes.
    if (raw !== undefined && decodeIdempotency(raw).createdAtMs === expiry.createdAtMs) {
      ops.push({ type: "del", key: keys[i] as Buffer });
      deleted++;
    }
  });
  return { ops, deleted };
}
