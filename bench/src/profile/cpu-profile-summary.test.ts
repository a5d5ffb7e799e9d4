import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { categoryOf, summarizeCpuProfile } from "./cpu-profile-summary.js";

const dir = mkdtempSync(join(tmpdir(), "cpu-profile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("categories: GC, native, npm packages, our packages, Node internals", () => {
  expect(categoryOf("", "(garbage collector)")).toBe("GC");
  expect(categoryOf("", "(program)")).toMatch(/^native/);
  expect(categoryOf("file:///w/node_modules/@connectrpc/connect/dist/esm/x.js", "f")).toBe("@connectrpc/connect");
  expect(categoryOf("file:///w/node_modules/pino/lib/x.js", "f")).toBe("pino");
  expect(categoryOf("file:///w/libs/engine/dist/commit-sequencer.js", "f")).toBe("@statehouse/engine");
  expect(categoryOf("node:internal/http2/core", "f")).toBe("node:http2");
  expect(categoryOf("node:events", "f")).toBe("node:events");
});

test("self time per category and function, idle left out, limited to the window", () => {
  const file = join(dir, "p.cpuprofile");
  const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9, scriptId: "0", columnNumber: 0 });
  writeFileSync(
    file,
    JSON.stringify({
      startTime: 1_000,
      endTime: 2_000,
      nodes: [
        { id: 1, callFrame: frame("(idle)", "") },
        { id: 2, callFrame: frame("_writeSync", "file:///w/node_modules/@nxtedition/rocksdb/chained-batch.js") },
        { id: 3, callFrame: frame("(garbage collector)", "") },
      ],
      // sample times: 1100 (before the window), 1200, 1300, 1400, 1500
      samples: [2, 2, 2, 3, 1],
      timeDeltas: [100, 100, 100, 100, 100],
    }),
  );
  const all = summarizeCpuProfile(file, "all");
  expect(all.sampledMs).toBe(1); // 500 µs, rounded to ms
  expect(all.busyPct).toBe(80);
  expect(all.categories).toEqual([
    { name: "@nxtedition/rocksdb", pct: 75 },
    { name: "GC", pct: 25 },
  ]);
  expect(all.topFunctions[0]).toEqual({ name: "_writeSync", where: "node_modules/@nxtedition/rocksdb/chained-batch.js:10", pct: 75 });
  const windowed = summarizeCpuProfile(file, "window", [1_150, 1_450]);
  expect(windowed.categories).toEqual([
    { name: "@nxtedition/rocksdb", pct: 66.7 },
    { name: "GC", pct: 33.3 },
  ]);
});
