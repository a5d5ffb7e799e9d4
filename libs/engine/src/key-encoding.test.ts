import { describe, expect, it } from "vitest";
import {
  decodeRecordKey,
  decodeU64,
  encodeU64,
  eventKey,
  prefixEnd,
  stateKey,
  statePrefix,
  unpooled,
  versionKey,
} from "./key-encoding.ts";
import { seededRandom } from "./test-support/random.ts";

const ALPHABET = ["", "\u0000", "\u0001", "\u00ff", "a", "b", "/", ":", "é", "\uFFFF", "\u{1F600}", "\u0000\u0001", "\u0000\u00ff"];

function randomString(random: () => number): string {
  let out = "";
  const length = Math.floor(random() * 4);
  for (let i = 0; i < length; i++) out += ALPHABET[Math.floor(random() * ALPHABET.length)] ?? "";
  return out;
}

const utf8Compare = (x: string, y: string): number => Buffer.compare(Buffer.from(x), Buffer.from(y));
const tupleCompare = (x: string[], y: string[]): number => {
  for (let i = 0; i < x.length; i++) {
    const c = utf8Compare(x[i] ?? "", y[i] ?? "");
    if (c !== 0) return c;
  }
  return 0;
};

describe("key encoding", () => {
  it("round-trips 64-bit integers in big-endian order", () => {
    const values = [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER];
    for (const v of values) expect(decodeU64(encodeU64(v))).toBe(v);
    const sorted = values.map((v) => eventKey(v)).sort(Buffer.compare);
    expect(sorted.map((k) => decodeU64(k, 1))).toEqual(values);
  });

  it("orders (namespace, agent, key) tuples like component-wise UTF-8 comparison, with no collisions", () => {
    const random = seededRandom(42);
    const tuples: string[][] = [];
    for (let i = 0; i < 3000; i++) tuples.push([randomString(random), randomString(random), randomString(random)]);
    const encoded = new Map<string, string[]>();
    for (const t of tuples) {
      const key = stateKey(t[0] ?? "", t[1] ?? "", t[2] ?? "");
      const previous = encoded.get(key.toString("latin1"));
      if (previous !== undefined) expect(previous).toEqual(t); // equal keys only for equal tuples
      encoded.set(key.toString("latin1"), t);
      expect(decodeRecordKey(key)).toMatchObject({ namespace: t[0], agentId: t[1], key: t[2] });
    }
    const byKey = [...tuples].sort((x, y) => Buffer.compare(stateKey(x[0] ?? "", x[1] ?? "", x[2] ?? ""), stateKey(y[0] ?? "", y[1] ?? "", y[2] ?? "")));
    const byTuple = [...tuples].sort(tupleCompare);
    expect(byKey.map((t) => JSON.stringify(t))).toEqual(byTuple.map((t) => JSON.stringify(t)));
  });

  it("makes key prefixes exact: a prefix range holds exactly the keys starting with that prefix", () => {
    const random = seededRandom(7);
    const keys = Array.from({ length: 2000 }, () => randomString(random));
    for (let i = 0; i < 200; i++) {
      const prefix = randomString(random);
      const start = statePrefix("ns", "agent", prefix);
      const end = prefixEnd(start);
      const inRange = keys.filter((k) => {
        const encoded = stateKey("ns", "agent", k);
        return Buffer.compare(encoded, start) >= 0 && Buffer.compare(encoded, end) < 0;
      });
      expect(new Set(inRange)).toEqual(new Set(keys.filter((k) => k.startsWith(prefix))));
    }
  });

  it("keeps agents apart even when one agent id is a prefix of another or holds separator bytes", () => {
    const a = stateKey("ns", "a", "\u0000b");
    const b = stateKey("ns", "a\u0000", "b");
    const c = stateKey("ns\u0000a", "", "b");
    expect(new Set([a, b, c].map((k) => k.toString("hex"))).size).toBe(3);
    const range = statePrefix("ns", "a", "");
    for (const other of [b, c]) expect(other.subarray(0, range.length).equals(range)).toBe(false);
  });

  it("puts version-index keys of one record in version order right after each other", () => {
    const s = stateKey("ns", "agent", "key");
    const versions = [1, 2, 10, 256, 70000].map((v) => versionKey(s, v));
    expect([...versions].sort(Buffer.compare)).toEqual(versions);
    const other = versionKey(stateKey("ns", "agent", "key\u0000"), 1);
    expect(Buffer.compare(versions[versions.length - 1] as Buffer, other)).toBeLessThan(0);
  });
});

describe("unpooled", () => {
  it("copies a pooled key into memory of its own", () => {
    const pooled = stateKey("ns", "agent", "key");
    // A small Buffer is a slice of Node's shared pool: its ArrayBuffer is the whole slab.
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    const own = unpooled(pooled);
    expect(own.equals(pooled)).toBe(true);
    expect(own.buffer.byteLength).toBe(own.length);
    expect(own.buffer).not.toBe(pooled.buffer);
  });
});
