// Paged reads of an agent's keys: the latest-state table (listKeys, scanPrefix) and the
// version index (state as of a commit_ts). A page holds at most `limit` items and about
// `maxBytes` of keys and values, so memory is bounded whatever the agent holds; the
// storage iterator is read in chunks bounded in count and bytes, and closed at once.
import { EngineError } from "./engine-error.ts";
import { agentPrefix, decodeKeyAfterPrefix, decodeU64, prefixEnd, stateKey, statePrefix, TABLE_STATE, TABLE_VERSION } from "./key-encoding.ts";
import { decodeStateHeader, decodeStateValue } from "./record-codec.ts";
import type { KvIterator, KvRange, ReadableKv } from "./storage/ordered-kv.ts";
import type { JsonObject, ListKeysPageOptions, Page, PageOptions, StateEntry } from "./types.ts";
import { checkName } from "./validation.ts";

/** Entries read from storage per chunk, at most. */
const CHUNK_ENTRIES = 1000;
/** Bytes (keys + values) read from storage per chunk, about. */
const CHUNK_BYTES = 1024 * 1024;
/** Events loaded per batch for an as-of page, at most. */
const EVENT_BATCH = 256;
/** Bytes of a state value before its JSON (flags, version, commit_ts). */
const STATE_HEADER_BYTES = 17;

export interface Bounds {
  limit: number;
  after: string | undefined;
  maxBytes: number;
}

/** The value (null: deleted) each key had in its event at that commit_ts, from the engine's agent-event index. */
export type VersionValueLoader = (namespace: string, agentId: string, picks: readonly { key: string; ts: number }[]) => Promise<(JsonObject | null)[]>;

/** Collects items until the page is full, then looks for one more to tell whether a next page exists. */
export class PageBuilder<T> {
  readonly items: T[] = [];
  bytes = 0;
  private lastKey: string | null = null;
  private more = false;

  private readonly bounds: Bounds;

  constructor(bounds: Bounds) {
    this.bounds = bounds;
  }

  get full(): boolean {
    return this.items.length >= this.bounds.limit || this.bytes >= this.bounds.maxBytes;
  }

  /** Another item exists after a full page. */
  markMore(): void {
    this.more = true;
  }

  /** Adds an item; once the page is full, the next item only proves that more follow. */
  offer(key: string, item: T, bytes: number): void {
    if (this.full) {
      this.more = true;
      return;
    }
    this.items.push(item);
    this.bytes += bytes;
    this.lastKey = key;
  }

  get done(): boolean {
    return this.more;
  }

  page(): Page<T> {
    return { items: this.items, nextAfter: this.more ? this.lastKey : null, bytes: this.bytes };
  }
}

export class PagedReads {
  private readonly kv: ReadableKv;
  private readonly loadValues: VersionValueLoader;

  constructor(kv: ReadableKv, loadValues: VersionValueLoader) {
    this.kv = kv;
    this.loadValues = loadValues;
  }

  async listKeys(namespace: string, agentId: string, options: ListKeysPageOptions = {}): Promise<Page<string>> {
    const prefix = options.prefix ?? "";
    if (typeof prefix !== "string") throw new TypeError("prefix must be a string");
    return this.statePage(namespace, agentId, prefix, checkBounds(options), (key, _v, keyBytes) => [key, keyBytes]);
  }

  async scanPrefix(namespace: string, agentId: string, prefix: string, options: PageOptions = {}): Promise<Page<StateEntry>> {
    if (typeof prefix !== "string") throw new TypeError("prefix must be a string");
    return this.statePage(namespace, agentId, prefix, checkBounds(options), (key, v, keyBytes) => {
      const header = decodeStateHeader(v);
      const entry = { key, value: decodeStateValue(v) as JsonObject, version: BigInt(header.version), commitTs: BigInt(header.commitTs) };
      return [entry, keyBytes + v.length - STATE_HEADER_BYTES];
    });
  }

  /** Latest version with commit_ts <= asOf of each key, existing ones only, in key order. */
  /**
   * `compacted`, when version entries may be missing (keep-versions compaction): the error for a
   * key whose kept versions all came after asOf while older ones are gone (its state then is unknown).
   */
  async agentAsOf(namespace: string, agentId: string, asOf: number, options: PageOptions = {}, compacted?: (key: string, oldestKept: number) => Error): Promise<Page<StateEntry>> {
    checkName(namespace, "namespace");
    checkName(agentId, "agentId");
    const bounds = checkBounds(options);
    const prefix = agentPrefix(TABLE_VERSION, namespace, agentId);
    // Every version key of `after` starts with its state key under the version tag: skip them all.
    const start = bounds.after === undefined ? prefix : prefixEnd(withTag(stateKey(namespace, agentId, bounds.after), TABLE_VERSION));
    const builder = new PageBuilder<StateEntry>(bounds);
    const end = prefixEnd(prefix);
    if (Buffer.compare(start, end) >= 0) return builder.page();
    const iterator = this.kv.iterator({ gte: start, lt: end, snapshot: true, chunkBytes: CHUNK_BYTES });
    try {
      let current: Pick | null = null;
      let batch: Pick[] = [];
      const flush = async (): Promise<void> => {
        const values = await this.loadValues(namespace, agentId, batch);
        batch.forEach((pick, i) => {
          const value = values[i];
          if (value == null) return; // deleted as of then
          builder.offer(pick.key, { key: pick.key, value, version: BigInt(pick.version), commitTs: BigInt(pick.ts) }, pick.keyBytes + JSON.stringify(value).length);
        });
        batch = [];
      };
      const push = async (pick: Pick): Promise<void> => {
        batch.push(pick);
        // Enough candidates to fill the page and prove one more (fewer when some were deleted).
        if (batch.length >= Math.min(EVENT_BATCH, bounds.limit - builder.items.length + 1)) await flush();
      };
      // The key being read and its first (oldest kept) version entry.
      const seen: { key: string | null; first: number } = { key: null, first: 0 };
      const checkSeen = (): void => {
        if (compacted !== undefined && seen.key !== null && seen.first > 1 && current?.key !== seen.key) throw compacted(seen.key, seen.first);
      };
      for (;;) {
        const rows = await iterator.next(CHUNK_ENTRIES);
        if (rows.length === 0) break;
        for (const [k, v] of rows) {
          const { key, next } = decodeKeyAfterPrefix(k, prefix.length);
          if (seen.key !== key) {
            checkSeen();
            seen.key = key;
            seen.first = decodeU64(k, next);
          }
          if (current !== null && current.key !== key) {
            await push(current);
            current = null;
            if (builder.done) return builder.page();
          }
          const ts = decodeU64(v);
          if (ts <= asOf) current = { key, version: decodeU64(k, next), ts, keyBytes: next - prefix.length - 2 };
        }
      }
      checkSeen();
      if (current !== null) batch.push(current);
      if (batch.length > 0) await flush();
      return builder.page();
    } finally {
      iterator.close();
    }
  }

  /** One page of existing latest-state entries; `toItem` makes the item and its byte count (tombstones never reach it). */
  private async statePage<T>(
    namespace: string,
    agentId: string,
    prefix: string,
    bounds: Bounds,
    toItem: (key: string, value: Buffer, keyBytes: number) => [T, number],
  ): Promise<Page<T>> {
    checkName(namespace, "namespace");
    checkName(agentId, "agentId");
    const builder = new PageBuilder<T>(bounds);
    const start = statePrefix(namespace, agentId, prefix);
    const end = prefixEnd(start);
    const range: KvRange = { gte: start, lt: end, snapshot: true, chunkBytes: CHUNK_BYTES };
    if (bounds.after !== undefined) {
      const after = stateKey(namespace, agentId, bounds.after);
      if (Buffer.compare(after, end) >= 0) return builder.page();
      if (Buffer.compare(after, start) >= 0) {
        delete range.gte;
        range.gt = after;
      }
    }
    const agentLength = agentPrefix(TABLE_STATE, namespace, agentId).length;
    const iterator: KvIterator = this.kv.iterator(range);
    try {
      while (!builder.done) {
        const rows = await iterator.next(Math.min(CHUNK_ENTRIES, bounds.limit - builder.items.length + 1));
        if (rows.length === 0) break;
        for (const [k, v] of rows) {
          // The header's first byte says whether the key exists: tombstones are skipped unparsed.
          if (v[0] !== 1) continue;
          if (builder.full) {
            builder.markMore();
            break;
          }
          const { key, next } = decodeKeyAfterPrefix(k, agentLength);
          const [item, bytes] = toItem(key, v, next - agentLength - 2);
          builder.offer(key, item, bytes);
        }
      }
      return builder.page();
    } finally {
      iterator.close();
    }
  }
}

interface Pick {
  key: string;
  version: number;
  ts: number;
  keyBytes: number;
}

function withTag(key: Buffer, tag: number): Buffer {
  const out = Buffer.from(key);
  out[0] = tag;
  return out;
}

export function checkBounds(options: PageOptions): Bounds {
  if (typeof options !== "object" || options === null) throw new TypeError("page options must be an object");
  const { limit, after, maxBytes } = options;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit <= 0)) throw new TypeError("limit must be a positive integer");
  if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes <= 0)) throw new TypeError("maxBytes must be a positive integer");
  if (after !== undefined) {
    if (typeof after !== "string") throw new TypeError("after must be a string");
    if (after === "") throw new EngineError("INVALID_ARGUMENT", "after must not be empty");
    checkName(after, "after");
  }
  return { limit: limit ?? Infinity, after, maxBytes: maxBytes ?? Infinity };
}
