// Open connections in all and per remote address, for the caps
// max_connections and max_connections_per_address. One thread counts in a
// Map; RPC threads share one table in a SharedArrayBuffer, so each cap holds
// for the whole daemon whichever thread the kernel hands a connection to.

export interface ConnectionCounts {
  /** Counts a new connection; returns the connections open now in all and from `remote`, this one included. */
  opened(remote: string): { total: number; fromRemote: number };
  closed(remote: string): void;
}

/** The counts of one thread. */
export class LocalConnectionCounts implements ConnectionCounts {
  readonly #perAddress = new Map<string, number>();
  #total = 0;

  opened(remote: string): { total: number; fromRemote: number } {
    const fromRemote = (this.#perAddress.get(remote) ?? 0) + 1;
    this.#perAddress.set(remote, fromRemote);
    this.#total += 1;
    return { total: this.#total, fromRemote };
  }

  closed(remote: string): void {
    this.#total -= 1;
    const left = (this.#perAddress.get(remote) ?? 1) - 1;
    if (left === 0) this.#perAddress.delete(remote);
    else this.#perAddress.set(remote, left);
  }
}

/** Addresses the shared table holds; an address seen after it filled is counted by each thread alone. */
export const SHARED_ADDRESS_SLOTS = 1 << 14;

/** 32-bit FNV-1a of the address, never 0 (0 marks a free slot). */
function addressKey(remote: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < remote.length; i++) h = Math.imul(h ^ remote.charCodeAt(i), 0x01000193);
  return h === 0 ? 1 : h | 0;
}

/**
 * Counts shared by every RPC thread: a total, and an open-addressing table of
 * address keys (a 32-bit hash each) with their counts, updated with Atomics.
 * A slot, once an address took it, stays that address's.
 */
export class SharedConnectionCounts implements ConnectionCounts {
  readonly buffer: SharedArrayBuffer;
  readonly #cells: Int32Array;
  /** Addresses the table had no slot for: counted here only. */
  readonly #overflow = new LocalConnectionCounts();

  /** `buffer`: another thread's SharedConnectionCounts.buffer (default: a new table). */
  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(4 * (1 + 2 * SHARED_ADDRESS_SLOTS));
    this.#cells = new Int32Array(this.buffer);
  }

  /** The slot of `remote` (taken now if it had none), or -1 when the table is full. */
  #slot(remote: string): number {
    const key = addressKey(remote);
    let i = (key >>> 0) % SHARED_ADDRESS_SLOTS;
    for (let probe = 0; probe < SHARED_ADDRESS_SLOTS; probe++) {
      const cell = 1 + i;
      const held = Atomics.load(this.#cells, cell);
      if (held === key) return i;
      if (held === 0) {
        const before = Atomics.compareExchange(this.#cells, cell, 0, key);
        if (before === 0 || before === key) return i;
      }
      i = (i + 1) % SHARED_ADDRESS_SLOTS;
    }
    return -1;
  }

  opened(remote: string): { total: number; fromRemote: number } {
    const total = Atomics.add(this.#cells, 0, 1) + 1;
    const slot = this.#slot(remote);
    if (slot === -1) return { total, fromRemote: this.#overflow.opened(remote).fromRemote };
    return { total, fromRemote: Atomics.add(this.#cells, 1 + SHARED_ADDRESS_SLOTS + slot, 1) + 1 };
  }

  closed(remote: string): void {
    Atomics.sub(this.#cells, 0, 1);
    const slot = this.#slot(remote);
    if (slot === -1) this.#overflow.closed(remote);
    else Atomics.sub(this.#cells, 1 + SHARED_ADDRESS_SLOTS + slot, 1);
  }
}
