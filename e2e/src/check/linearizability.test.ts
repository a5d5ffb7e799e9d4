import { describe, expect, it } from "vitest";
import { checkLinearizable, type HistoryOp, type KeyVersion } from "./linearizability.js";

const versions = new Map<string, KeyVersion[]>([
  [
    "a/x",
    [
      { version: 1, commitTs: 1, value: { uid: "w1" } },
      { version: 2, commitTs: 3, value: { uid: "w3" } },
    ],
  ],
  ["a/y", [{ version: 1, commitTs: 2, value: { uid: "w2" } }]],
]);

const commit = (client: string, t0: number, t1: number | null, commitTs: number): HistoryOp => ({
  kind: "commit",
  client,
  t0: BigInt(t0),
  t1: t1 === null ? null : BigInt(t1),
  commitTs,
  label: `w${commitTs}`,
});
const read = (client: string, t0: number, t1: number, key: string, version: number): HistoryOp => {
  const entry = versions.get(key)?.find((candidate) => candidate.version === version);
  return {
    kind: "read",
    client,
    t0: BigInt(t0),
    t1: BigInt(t1),
    key,
    exists: entry !== undefined && entry.value !== null,
    value: entry?.value ?? null,
    version,
    commitTs: entry?.commitTs ?? 0,
  };
};

describe("checkLinearizable", () => {
  it("accepts a sequential history and concurrent overlaps", () => {
    const history = [
      read("r", 0, 5, "a/x", 0),
      commit("c1", 10, 20, 1),
      read("r", 25, 30, "a/x", 1),
      commit("c2", 31, 40, 2),
      commit("c1", 35, 60, 3),
      // Overlaps commit 3: may see either version.
      read("r", 45, 50, "a/x", 1),
      read("r2", 46, 70, "a/x", 2),
      read("r", 61, 65, "a/x", 2),
      read("r", 66, 67, "a/y", 1),
    ];
    const report = checkLinearizable(history, versions);
    expect(report.violations).toEqual([]);
    expect(report.checked).toBe(9);
    expect(report.commits).toBe(3);
  });

  it("flags a stale read (misses a commit acknowledged before it began)", () => {
    const report = checkLinearizable([commit("c", 0, 10, 1), commit("c", 11, 20, 3), read("r", 21, 30, "a/x", 1)], versions);
    expect(report.violations).toHaveLength(1);
    expect(report.violations[0]).toContain("stale");
  });

  it("flags a read that sees a commit from its future", () => {
    const report = checkLinearizable([read("r", 0, 5, "a/x", 1), commit("c", 10, 20, 1)], versions);
    expect(report.violations).toHaveLength(1);
  });

  it("flags commits whose commit_ts order contradicts real time", () => {
    const report = checkLinearizable([commit("a", 0, 10, 3), commit("b", 11, 20, 1)], versions);
    expect(report.violations).toHaveLength(1);
  });

  it("flags non-monotonic reads across clients", () => {
    // r1 sees version 2 (commit 3) and finishes; r2 starts later and sees version 1.
    const report = checkLinearizable([commit("c", 0, null, 3), read("r1", 5, 6, "a/x", 2), read("r2", 7, 8, "a/x", 1)], versions);
    expect(report.violations).toHaveLength(1);
  });

  it("flags a read of something never committed", () => {
    const bogus: HistoryOp = { kind: "read", client: "r", t0: 0n, t1: 1n, key: "a/x", exists: true, value: { uid: "ghost" }, version: 9, commitTs: 9 };
    const wrongValue: HistoryOp = { kind: "read", client: "r", t0: 0n, t1: 1n, key: "a/x", exists: true, value: { uid: "ghost" }, version: 1, commitTs: 1 };
    expect(checkLinearizable([bogus], versions).violations[0]).toContain("never committed");
    expect(checkLinearizable([wrongValue], versions).violations[0]).toContain("returned");
  });

  it("lets a commit whose reply was lost sit anywhere after its start", () => {
    const report = checkLinearizable([commit("c", 0, null, 1), read("r", 100, 110, "a/x", 1)], versions);
    expect(report.violations).toEqual([]);
  });
});
