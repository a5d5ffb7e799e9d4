// The commit sequencer's cache of recently committed key versions (the sequencer is the only
// writer, so what it wrote is what storage holds): a batch touching a cached key needs no
// storage read for its version check. Bounded in bytes, least recently written first out.

/** A key's current version as the sequencer last stored or read it. */
export interface KeyState {
  version: number;
  exists: boolean;
}

/**
 * V8 heap bytes of one entry beyond its key's characters: the Map slot, the KeyState object and
 * the string header. Measured: 125 bytes per entry for 28-byte keys (100k entries, Node 24).
 */
export const VERSION_CACHE_ENTRY_OVERHEAD = 97;

/** Estimated heap bytes of the entry for `id` (a state key as a latin1 string: one byte per char). */
export function versionCacheEntryBytes(id: string): number {
  return VERSION_CACHE_ENTRY_OVERHEAD + id.length;
}

export class VersionCache {
  private readonly entries = new Map<string, KeyState>();
  private used = 0;
  readonly maxBytes: number;

  /** `maxBytes` 0 caches nothing. */
  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new TypeError("maxBytes must be a non-negative integer");
    this.maxBytes = maxBytes;
  }

  get(id: string): KeyState | undefined {
    return this.entries.get(id);
  }

  /** Keeps the versions a durable batch saw or wrote, newest last; evicts the oldest past the budget. */
  remember(states: ReadonlyMap<string, KeyState>): void {
    if (this.maxBytes === 0) return;
    for (const [id, state] of states) {
      if (this.entries.delete(id)) this.used -= versionCacheEntryBytes(id);
      this.entries.set(id, state);
      this.used += versionCacheEntryBytes(id);
    }
    if (this.used <= this.maxBytes) return;
    for (const id of this.entries.keys()) {
      this.entries.delete(id);
      this.used -= versionCacheEntryBytes(id);
      if (this.used <= this.maxBytes) break;
    }
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }

  /** Entries held now. */
  get size(): number {
    return this.entries.size;
  }

  /** Estimated heap bytes held now (at most `maxBytes`). */
  get bytes(): number {
    return this.used;
  }
}
