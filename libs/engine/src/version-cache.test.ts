import { describe, expect, it } from "vitest";
import { openEngine } from "./open-engine.ts";
import { VersionCache, versionCacheEntryBytes } from "./version-cache.ts";

const state = (version: number) => ({ version, exists: true });

describe("VersionCache", () => {
  it("holds at most maxBytes, evicting the least recently written first", () => {
    const id = (i: number): string => `key-${String(i).padStart(4, "0")}`;
    const perEntry = versionCacheEntryBytes(id(0));
    const cache = new VersionCache(perEntry * 3);
    cache.remember(new Map([[id(1), state(1)], [id(2), state(1)], [id(3), state(1)]]));
    expect(cache.size).toBe(3);
    // Rewriting key 1 makes it the newest: key 2 is the oldest when key 4 arrives.
    cache.remember(new Map([[id(1), state(2)]]));
    cache.remember(new Map([[id(4), state(1)]]));
    expect(cache.size).toBe(3);
    expect(cache.bytes).toBe(perEntry * 3);
    expect(cache.get(id(2))).toBeUndefined();
    expect(cache.get(id(1))).toEqual(state(2));
    expect(cache.get(id(3))).toEqual(state(1));
    expect(cache.get(id(4))).toEqual(state(1));
  });

  it("counts the key's length, so long keys take more of the budget", () => {
    const cache = new VersionCache(10_000);
    cache.remember(new Map([["k".repeat(1000), state(1)]]));
    expect(cache.bytes).toBe(versionCacheEntryBytes("k".repeat(1000)));
    cache.remember(new Map(Array.from({ length: 20 }, (_, i) => [`${"x".repeat(1000)}${i}`, state(1)] as const)));
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
    expect(cache.size).toBe(Math.floor(10_000 / versionCacheEntryBytes(`${"x".repeat(1000)}0`)));
  });

  it("with a budget of 0 holds nothing; clear empties it", () => {
    const none = new VersionCache(0);
    none.remember(new Map([["a", state(1)]]));
    expect(none.size).toBe(0);
    const cache = new VersionCache(1 << 20);
    cache.remember(new Map([["a", state(1)]]));
    cache.clear();
    expect([cache.size, cache.bytes]).toEqual([0, 0]);
  });

  it("refuses a negative or fractional budget", () => {
    expect(() => new VersionCache(-1)).toThrow(TypeError);
    expect(() => new VersionCache(1.5)).toThrow(TypeError);
  });
});

describe("versionCacheBytes (engine option)", () => {
  it("bounds the sequencer's cache, and versions stay right without a cache", async () => {
    for (const versionCacheBytes of [0, 2_000]) {
      const engine = await openEngine({ inMemory: true, versionCacheBytes });
      try {
        for (let round = 1; round <= 3; round++) {
          for (let i = 0; i < 50; i++) await engine.transact({ operations: [{ namespace: "n", agentId: "a", key: `k${i}`, value: { round } }] });
        }
        const cache = engine.stats().versionCache;
        expect(cache?.bytes).toBeLessThanOrEqual(versionCacheBytes);
        if (versionCacheBytes === 0) expect(cache?.entries).toBe(0);
        else expect(cache?.entries).toBeGreaterThan(0);
        // Three writes each: version 3, whether the check read the cache or storage.
        for (let i = 0; i < 50; i++) expect((await engine.get({ namespace: "n", agentId: "a", key: `k${i}` })).version).toBe(3n);
      } finally {
        await engine.close();
      }
    }
  });

  it("defaults to 1 MiB: written past it, the cache stays just under 1 MiB", async () => {
    const engine = await openEngine({ inMemory: true });
    try {
      // 12,000 distinct keys: at >= 97 bytes each, more than 1 MiB of entries.
      for (let t = 0; t < 120; t++) {
        await engine.transact({ operations: Array.from({ length: 100 }, (_, i) => ({ namespace: "n", agentId: "a", key: `k${t * 100 + i}`, value: { n: 1 } })) });
      }
      const cache = engine.stats().versionCache;
      expect(cache?.bytes).toBeLessThanOrEqual(1024 * 1024);
      expect(cache?.bytes).toBeGreaterThan(1024 * 1024 - 1024);
    } finally {
      await engine.close();
    }
  });

  it("is refused when negative", async () => {
    await expect(openEngine({ inMemory: true, versionCacheBytes: -1 })).rejects.toThrow(/versionCacheBytes must be an integer >= 0/);
  });
});
