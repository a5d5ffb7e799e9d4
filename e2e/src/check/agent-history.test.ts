import { describe, expect, it } from "vitest";
import type { EventView, StateView } from "../drivers/protocol.js";
import { compareWithState, foldEvents } from "./agent-history.js";

const events: EventView[] = [
  { txn_id: "a", commit_ts: 1, operations: [{ key: "x", value: { n: 1 }, version: 1 }, { key: "y", value: { n: 1 }, version: 1 }] },
  { txn_id: "b", commit_ts: 4, operations: [{ key: "x", value: null, version: 2 }] },
];

describe("foldEvents / compareWithState", () => {
  it("folds a consistent replay and matches the served state", () => {
    const folded = foldEvents("agent", events);
    expect(folded.problems).toEqual([]);
    expect(folded.maxCommitTs).toBe(4);
    const observed = new Map<string, StateView>([
      ["x", { exists: false, value: null, version: 2, commit_ts: 4 }],
      ["y", { exists: true, value: { n: 1 }, version: 1, commit_ts: 1 }],
      ["never", { exists: false, value: null, version: 0, commit_ts: 0 }],
    ]);
    expect(compareWithState("agent", folded, observed, ["y"])).toEqual([]);
  });

  it("flags version gaps, commit_ts going back and duplicate events", () => {
    const bad: EventView[] = [
      ...events,
      { txn_id: "b", commit_ts: 3, operations: [{ key: "y", value: { n: 2 }, version: 3 }] },
    ];
    const problems = foldEvents("agent", bad).problems;
    expect(problems).toHaveLength(3);
  });

  it("flags state that differs from the replay", () => {
    const folded = foldEvents("agent", events);
    const observed = new Map<string, StateView>([
      ["x", { exists: false, value: null, version: 2, commit_ts: 4 }],
      ["y", { exists: true, value: { n: 2 }, version: 1, commit_ts: 1 }],
    ]);
    expect(compareWithState("agent", folded, observed, ["x", "y"])).toHaveLength(2);
  });

  it("continues an earlier fold", () => {
    const first = foldEvents("agent", events.slice(0, 1));
    const second = foldEvents("agent", events.slice(1), first);
    expect(second.problems).toEqual([]);
    expect(second.state.get("x")?.version).toBe(2);
  });
});
