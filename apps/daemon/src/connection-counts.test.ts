// The connection counts behind max_connections / max_connections_per_address:
// one thread's, and the table RPC threads share (two instances over one
// buffer stand for two threads; a worker thread sees the same memory).
import { describe, expect, it } from "vitest";
import { LocalConnectionCounts, SHARED_ADDRESS_SLOTS, SharedConnectionCounts } from "./connection-counts.js";

describe("connection counts", () => {
  it("count in all and per address on one thread", () => {
    const counts = new LocalConnectionCounts();
    expect(counts.opened("10.0.0.1")).toEqual({ total: 1, fromRemote: 1 });
    expect(counts.opened("10.0.0.1")).toEqual({ total: 2, fromRemote: 2 });
    expect(counts.opened("10.0.0.2")).toEqual({ total: 3, fromRemote: 1 });
    counts.closed("10.0.0.1");
    expect(counts.opened("10.0.0.1")).toEqual({ total: 3, fromRemote: 2 });
  });

  it("threads sharing one table see each other's connections", () => {
    const a = new SharedConnectionCounts();
    const b = new SharedConnectionCounts(a.buffer);
    expect(a.opened("127.0.0.1")).toEqual({ total: 1, fromRemote: 1 });
    expect(b.opened("127.0.0.1")).toEqual({ total: 2, fromRemote: 2 });
    expect(b.opened("::1")).toEqual({ total: 3, fromRemote: 1 });
    expect(a.opened("::1")).toEqual({ total: 4, fromRemote: 2 });
    a.closed("127.0.0.1");
    b.closed("::1");
    expect(b.opened("127.0.0.1")).toEqual({ total: 3, fromRemote: 2 });
    expect(a.opened("::1")).toEqual({ total: 4, fromRemote: 2 });
  });

  it("once the table is full, a new address is counted by its thread alone", () => {
    const a = new SharedConnectionCounts();
    const b = new SharedConnectionCounts(a.buffer);
    for (let i = 0; i < SHARED_ADDRESS_SLOTS; i++) a.opened(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(a.opened("192.168.0.1")).toEqual({ total: SHARED_ADDRESS_SLOTS + 1, fromRemote: 1 });
    expect(b.opened("192.168.0.1")).toEqual({ total: SHARED_ADDRESS_SLOTS + 2, fromRemote: 1 });
    expect(a.opened("192.168.0.1")).toEqual({ total: SHARED_ADDRESS_SLOTS + 3, fromRemote: 2 });
    // Addresses with a slot still count across threads.
    expect(b.opened("10.0.0.0")).toEqual({ total: SHARED_ADDRESS_SLOTS + 4, fromRemote: 2 });
  });
});
