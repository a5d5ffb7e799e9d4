import { describe, expect, test } from "vitest";
import { defaultRpcThreadCounts, makePlan, parseRpcThreadCounts } from "./bench-plan.js";

describe("the threads figure's plan", () => {
  test("compares 1, 2, 4, … up to the cores present by default", () => {
    expect(defaultRpcThreadCounts(1)).toEqual([1]);
    expect(defaultRpcThreadCounts(2)).toEqual([1, 2]);
    expect(defaultRpcThreadCounts(6)).toEqual([1, 2, 4, 6]);
    expect(defaultRpcThreadCounts(16)).toEqual([1, 2, 4, 8, 16]);
    expect(makePlan({}).rpcThreads).toEqual(defaultRpcThreadCounts());
  });

  test("--rpc-threads takes a comma list within the daemon's limit", () => {
    expect(parseRpcThreadCounts("1,2")).toEqual([1, 2]);
    expect(makePlan({ rpcThreads: [2, 1] }).rpcThreads).toEqual([2, 1]);
    for (const bad of ["0", "65", "1,,2", "two"]) expect(() => parseRpcThreadCounts(bad), bad).toThrow(/between 1 and 64/);
  });
});
