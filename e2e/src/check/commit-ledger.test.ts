import { describe, expect, it } from "vitest";
import type { EventView } from "../drivers/protocol.js";
import { CommitLedger } from "./commit-ledger.js";

function event(commitTs: number, ops: Array<[string, number, object | null]>): EventView {
  return {
    txn_id: `t${commitTs}`,
    commit_ts: commitTs,
    operations: ops.map(([key, version, value]) => ({ key, version, value: value as EventView["operations"][number]["value"] })),
  };
}

describe("CommitLedger", () => {
  it("accepts whole transactions and interrupted commits either way", () => {
    const ledger = new CommitLedger();
    const a = ledger.begin("u1", "w", [
      { agent: "A", key: "x", value: { uid: "u1" } },
      { agent: "B", key: "y", value: { uid: "u1" } },
    ]);
    a.status = "acked";
    a.commitTs = 1;
    const b = ledger.begin("u2", "w", [
      { agent: "A", key: "x", value: { uid: "u2" } },
      { agent: "A", key: "z", value: null },
    ]);
    b.status = "unknown";
    ledger.begin("u3", "w", [{ agent: "A", key: "x", value: { uid: "u3" } }]).status = "unknown";
    ledger.begin("u4", "w", [{ agent: "A", key: "x", value: { uid: "u4" } }]).status = "failed";
    const events = new Map([
      ["A", [event(1, [["x", 1, { uid: "u1" }]]), event(2, [["x", 2, { uid: "u2" }], ["z", 1, null]])]],
      ["B", [event(1, [["y", 1, { uid: "u1" }]])]],
    ]);
    const report = ledger.verify(events);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ acked: 1, lost: 0, partial: 0, phantom: 0, unknownApplied: 1, unknownAbsent: 1 });
  });

  it("counts lost, partial and phantom transactions", () => {
    const ledger = new CommitLedger();
    const lost = ledger.begin("lost", "w", [{ agent: "A", key: "x", value: { uid: "lost" } }]);
    lost.status = "acked";
    lost.commitTs = 5;
    const partial = ledger.begin("half", "w", [
      { agent: "A", key: "x", value: { uid: "half" } },
      { agent: "B", key: "y", value: { uid: "half" } },
    ]);
    partial.status = "acked";
    partial.commitTs = 1;
    ledger.begin("failed", "w", [{ agent: "A", key: "q", value: { uid: "failed" } }]).status = "failed";
    const events = new Map([
      ["A", [event(1, [["x", 1, { uid: "half" }]]), event(2, [["q", 1, { uid: "failed" }]]), event(3, [["r", 1, { uid: "ghost" }]])]],
    ]);
    const report = ledger.verify(events);
    expect(report).toMatchObject({ acked: 2, lost: 1, partial: 1, phantom: 2 });
    expect(report.problems).toHaveLength(4);
  });

  it("flags a transaction applied twice", () => {
    const ledger = new CommitLedger();
    ledger.begin("u", "w", [{ agent: "A", key: "x", value: { uid: "u" } }]).status = "unknown";
    const report = ledger.verify(new Map([["A", [event(1, [["x", 1, { uid: "u" }]]), event(2, [["x", 2, { uid: "u" }]])]]]));
    expect(report.problems.join()).toContain("applied twice");
  });
});
