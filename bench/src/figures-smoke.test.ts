// The daemon's and the engine's own figures (`--only protocols,fastpath,flags,threads,engine`) in smoke mode:
// every subject measured against real daemons and a real engine, the "÷ base" ratios present, the
// Markdown sections written. Structure only, never timing.
import { tmpdir } from "node:os";
import { expect, test } from "vitest";
import { runBench } from "./run-bench.js";

test("bench --smoke --only protocols,context,fastpath,flags,threads,engine measures every subject", async () => {
  const { report, markdown } = await runBench({
    smoke: true,
    only: ["protocols", "context", "fastpath", "flags", "threads", "engine"],
    nodeFlagVariants: ["shipped", ""],
    rpcThreads: [1, 2],
    outDir: null,
    scratchDir: tmpdir(),
    command: "figures smoke test",
    log: () => undefined,
  });
  expect(report.errors).toEqual([]);
  const row = (measureId: string, metric: string) => report.rows.find((r) => r.measureId === measureId && r.metric === metric);
  for (const concurrency of report.plan.concurrency) {
    for (const client of ["connect-h2", "connect-h1", "grpc", "grpc-web", "grpc-js"]) {
      for (const kind of ["transact", "bwc"]) {
        const r = row(`proto.c${concurrency}.${client}.${kind}`, "opsPerSec");
        expect(r?.median, `${client} ${kind}`).toBeGreaterThan(0);
        expect(r?.ratios.vsNoop, `${client} ${kind} ÷ its Health`).toBeGreaterThan(0);
      }
    }
  }
  for (const rpc of ["health", "transact", "getstate"]) {
    for (const protocol of ["grpc", "connect"]) {
      expect(row(`fp.connect-node.${rpc}-${protocol}`, "serverCpuUsPerOp")?.median).toBeGreaterThan(0);
      expect(row(`fp.fast.${rpc}-${protocol}`, "serverCpuUsPerOp")?.ratios.vsBase, `fast path ÷ connect-node, ${rpc} ${protocol}`).toBeGreaterThan(0);
      expect(row(`fp.fast.${rpc}-${protocol}`, "minorGcUsPerOp")?.median).toBeGreaterThanOrEqual(0);
    }
  }
  for (const call of ["health-connect", "transact-connect", "transact-grpc"]) {
    expect(row(`flags.v1.${call}`, "opsPerSec")?.ratios.vsBase, call).toBeGreaterThan(0);
  }
  expect(report.rows.find((r) => r.measureId === "flags.v1.health-connect")?.subject).toBe("statehoused · no Node flags");
  for (const call of ["transact-grpc", "getstate-grpc"]) {
    expect(row(`threads.t1.${call}`, "serverCpuUsPerOp")?.median, call).toBeGreaterThan(0);
    expect(row(`threads.t2.${call}`, "opsPerSec")?.ratios.vsBase, `2 threads ÷ 1, ${call}`).toBeGreaterThan(0);
  }
  expect(report.rows.find((r) => r.measureId === "threads.t2.transact-grpc")?.subject).toBe("statehoused · --rpc-threads 2");
  expect(row("engine.raw", "opsPerSec")?.median).toBeGreaterThan(0);
  for (const id of ["engine.c1", "engine.c8", "engine.c8.no-snapshots"]) {
    expect(row(id, "opsPerSec")?.ratios.vsBase, id).toBeGreaterThan(0);
    expect(row(id, "processCpuUsPerOp")?.median, id).toBeGreaterThan(0);
    expect(row(id, "txnsPerBatch")?.median, id).toBeGreaterThanOrEqual(1);
  }
  expect(row("engine.replay", "eventsPerSec")?.median).toBeGreaterThan(0);
  for (const section of ["## Protocols", "## Fast path", "## Node flags", "## RPC threads", "## Engine"]) expect(markdown).toContain(section);
  expect(markdown).toContain("| ÷ base |");
}, 180_000);
