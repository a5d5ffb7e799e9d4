import { describe, expect, test } from "vitest";
import { CLUSTER_SUBJECTS, daemonCount, daemonOf, makeClusterPlan, medianRatio, subjectOrder } from "./cluster-plan.js";

describe("cluster bench plan", () => {
  test("binds clients round-robin, every daemon gets its share", () => {
    const counts = [0, 0, 0];
    for (let w = 0; w < 64; w++) counts[daemonOf(w, 3)] = (counts[daemonOf(w, 3)] ?? 0) + 1;
    expect(counts).toEqual([22, 21, 21]);
    expect(daemonOf(5, 1)).toBe(0);
    expect(() => daemonOf(0, 0)).toThrow(/positive integer/);
  });

  test("cluster subjects name their daemon count, the others none", () => {
    expect(CLUSTER_SUBJECTS.map(daemonCount)).toEqual([0, 0, 1, 2, 3]);
  });

  test("rotates the subject order by one each round, each subject once per round", () => {
    expect(subjectOrder(0)[0]).toBe("rocksdb");
    expect(subjectOrder(1)[0]).toBe("postgres-4stmt");
    expect(subjectOrder(5)).toEqual(subjectOrder(0));
    for (let r = 0; r < 5; r++) expect([...subjectOrder(r)].sort()).toEqual([...CLUSTER_SUBJECTS].sort());
  });

  test("defaults: few short rounds; bad rounds refused", () => {
    expect(makeClusterPlan()).toMatchObject({ rounds: 2, windowMs: 3_000, p1Clients: 64 });
    expect(makeClusterPlan({ quick: true })).toMatchObject({ rounds: 1, windowMs: 1_000 });
    expect(() => makeClusterPlan({ rounds: 0 })).toThrow(/--rounds/);
    expect(makeClusterPlan().client).toBe("raw");
    expect(makeClusterPlan({ client: "connect-node" }).client).toBe("connect-node");
    expect(() => makeClusterPlan({ client: "grpc-js" })).toThrow(/--cluster-client must be one of raw, connect-node/);
  });

  test("ratios are the median of per-round ratios, skipping rounds that lack one side", () => {
    expect(medianRatio([100, 200, 300], [100, 100, 100])).toBe(2);
    expect(medianRatio([100, 300], [100, 100])).toBe(2);
    expect(medianRatio([100, Number.NaN], [50, 10])).toBe(2);
    expect(medianRatio([], [])).toBeNaN();
  });
});
