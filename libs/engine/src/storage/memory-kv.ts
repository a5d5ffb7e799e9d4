import type { KvEntry, KvIterator, KvOp, KvRange, OrderedKv } from "./ordered-kv.ts";

const CHUNK_MAX = 512;
const EMPTY = Buffer.alloc(0);

interface Chunk {
  keys: Buffer[];
  values: Buffer[];
}

/**
 * Sorted in-memory key-value store: an ordered list of sorted chunks (a flat B-tree),
 * O(log n) lookups and O(chunk) inserts. Writes are atomic because each batch is applied in one synchronous step.
 */
export class MemoryKv implements OrderedKv {
  readonly kind = "memory";
  readonly broken = false;
  private chunks: Chunk[] = [];
  private closed = false;

  getManySync(keys: readonly Buffer[]): (Buffer | undefined)[] {
    return keys.map((key) => this.getOne(key));
  }

  getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    return Promise.resolve(this.getManySync(keys));
  }

  writeSync(ops: readonly KvOp[], _sync: boolean): void {
    this.assertOpen();
    for (const op of ops) {
      if (op.type === "put") this.put(op.key, op.value);
      else this.del(op.key);
    }
  }

  /**
   * Applies the batch one event-loop turn later (as a disk write would complete later), all at
   * once: the engine's code paths that run while a write is in flight are the same as on RocksDB.
   */
  write(ops: readonly KvOp[], sync: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          this.writeSync(ops, sync);
          resolve();
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  }

  iterator(range: KvRange): KvIterator {
    this.assertOpen();
    if (range.snapshot === true) return this.snapshotIterator(range);
    return this.liveIterator(range);
  }

  repair(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    this.chunks = [];
    return Promise.resolve();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("MemoryKv is closed");
  }

  private getOne(key: Buffer): Buffer | undefined {
    const chunk = this.chunks[this.chunkFor(key)];
    if (chunk === undefined) return undefined;
    const i = lowerBound(chunk.keys, key);
    const found = chunk.keys[i];
    return found !== undefined && found.equals(key) ? chunk.values[i] : undefined;
  }

  /** Index of the chunk whose range holds key (the last chunk whose first key <= key), or 0. */
  private chunkFor(key: Buffer): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    let result = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const first = this.chunks[mid]?.keys[0];
      if (first !== undefined && Buffer.compare(first, key) <= 0) {
        result = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return result;
  }

  private put(key: Buffer, value: Buffer): void {
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [key], values: [value] });
      return;
    }
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci] as Chunk;
    const i = lowerBound(chunk.keys, key);
    const found = chunk.keys[i];
    if (found !== undefined && found.equals(key)) {
      chunk.values[i] = value;
      return;
    }
    chunk.keys.splice(i, 0, key);
    chunk.values.splice(i, 0, value);
    if (chunk.keys.length > CHUNK_MAX) {
      const half = chunk.keys.length >>> 1;
      const right: Chunk = { keys: chunk.keys.splice(half), values: chunk.values.splice(half) };
      this.chunks.splice(ci + 1, 0, right);
    }
  }

  private del(key: Buffer): void {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    const i = lowerBound(chunk.keys, key);
    const found = chunk.keys[i];
    if (found === undefined || !found.equals(key)) return;
    chunk.keys.splice(i, 1);
    chunk.values.splice(i, 1);
    if (chunk.keys.length === 0) this.chunks.splice(ci, 1);
  }

  /** Entries with key in range, starting strictly after `after` when given, at most max. */
  private collect(range: KvRange, after: Buffer | undefined, max: number): KvEntry[] {
    const out: KvEntry[] = [];
    let start: Buffer | undefined = after ?? range.gte ?? range.gt;
    const exclusive = after !== undefined || (range.gte === undefined && range.gt !== undefined);
    let ci = start === undefined ? 0 : this.chunkFor(start);
    let i = start === undefined ? 0 : lowerBound(this.chunks[ci]?.keys ?? [], start);
    while (out.length < max) {
      const chunk = this.chunks[ci];
      if (chunk === undefined) break;
      if (i >= chunk.keys.length) {
        ci++;
        i = 0;
        continue;
      }
      const key = chunk.keys[i] as Buffer;
      i++;
      if (exclusive && start !== undefined && Buffer.compare(key, start) <= 0) continue;
      start = undefined;
      if (range.lt !== undefined && Buffer.compare(key, range.lt) >= 0) break;
      out.push([key, chunk.values[i - 1] as Buffer]);
    }
    return out;
  }

  /** Entries with key in range in descending order, starting strictly before `before` when given, at most max. */
  private collectReverse(range: KvRange, before: Buffer | undefined, max: number): KvEntry[] {
    const out: KvEntry[] = [];
    const upper = before ?? range.lt;
    let ci: number;
    let i: number;
    if (upper === undefined) {
      ci = this.chunks.length - 1;
      i = (this.chunks[ci]?.keys.length ?? 0) - 1;
    } else {
      ci = this.chunkFor(upper);
      // The last key < upper: the chunk for upper holds it unless upper is its first key.
      i = lowerBound(this.chunks[ci]?.keys ?? [], upper) - 1;
    }
    while (out.length < max && ci >= 0) {
      const chunk = this.chunks[ci];
      if (chunk === undefined) break;
      if (i < 0) {
        ci--;
        i = (this.chunks[ci]?.keys.length ?? 0) - 1;
        continue;
      }
      const key = chunk.keys[i] as Buffer;
      if (range.gte !== undefined && Buffer.compare(key, range.gte) < 0) break;
      if (range.gte === undefined && range.gt !== undefined && Buffer.compare(key, range.gt) <= 0) break;
      out.push([key, chunk.values[i] as Buffer]);
      i--;
    }
    return out;
  }

  private collectFrom(range: KvRange, last: Buffer | undefined, max: number): KvEntry[] {
    return range.reverse === true ? this.collectReverse(range, last, max) : this.collect(range, last, max);
  }

  private liveIterator(range: KvRange): KvIterator {
    let last: Buffer | undefined;
    let remaining = range.limit ?? Infinity;
    let done = false;
    return {
      next: (max) => {
        if (done || this.closed || remaining <= 0) return Promise.resolve([]);
        const rows = this.collectFrom(range, last, Math.min(max, remaining));
        remaining -= rows.length;
        const tail = rows[rows.length - 1];
        if (tail === undefined) done = true;
        else last = tail[0];
        return Promise.resolve(range.valuesOnly === true ? rows.map(([, v]): KvEntry => [EMPTY, v]) : rows);
      },
      close: () => {
        done = true;
      },
    };
  }

  private snapshotIterator(range: KvRange): KvIterator {
    const rows = this.collectFrom(range, undefined, range.limit ?? Infinity);
    let pos = 0;
    return {
      next: (max) => {
        const out = rows.slice(pos, pos + max);
        pos += out.length;
        return Promise.resolve(range.valuesOnly === true ? out.map(([, v]): KvEntry => [EMPTY, v]) : out);
      },
      close: () => {
        pos = rows.length;
      },
    };
  }
}

function lowerBound(keys: readonly Buffer[], key: Buffer): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(keys[mid] as Buffer, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
