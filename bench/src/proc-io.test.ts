import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { parseCounts } from "./bench-plan.js";
import { combineWindows, procIo, threadCpuMs, ThreadCpuWindow, WriteAmplificationWindow } from "./proc-io.js";
import { payloadBytes } from "./workloads/restart-workloads.js";

const dir = mkdtempSync(join(tmpdir(), "statehouse-proc-io-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeFile(bytes: number): void {
  const fd = openSync(join(dir, "f"), "w");
  try {
    writeSync(fd, Buffer.alloc(bytes, 1));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

test("procIo reads this process's write counters", () => {
  const before = procIo(process.pid);
  writeFile(64 * 1024);
  const after = procIo(process.pid);
  expect(after.wchar - before.wchar).toBeGreaterThanOrEqual(64 * 1024);
  expect(after.writeBytes).toBeGreaterThanOrEqual(before.writeBytes);
  expect(() => procIo(2 ** 30)).toThrow();
});

test("the write amplification window divides the bytes written by the bytes committed inside it", () => {
  const window = new WriteAmplificationWindow(process.pid);
  window.add(1_000_000); // before the window opens: not counted
  const combined = combineWindows(window, { start: () => undefined, stop: (ops) => ({ ops }) });
  combined.start();
  window.add(16 * 1024);
  writeFile(64 * 1024);
  const result = combined.stop(7);
  window.add(1_000_000); // after it closed: not counted
  expect(result["ops"]).toBe(7);
  expect(result["committedBytes"]).toBe(16 * 1024);
  expect(result["wcharAmplification"]).toBeGreaterThanOrEqual(4);
  expect(result["writeAmplification"]).toBeGreaterThanOrEqual(0);
  // Stopping again (the closed loop may) returns the same figures.
  expect({ ...window.stop(), ops: 7 }).toEqual(result);
});

test("a window in which nothing was committed has no ratio", () => {
  const window = new WriteAmplificationWindow(process.pid);
  window.start();
  expect(window.stop()).toEqual({});
});

test("payload bytes are the namespace, agent id, key and the value's compact JSON", () => {
  expect(payloadBytes({ namespace: "ns", agentId: "agent-1", key: "k/é", value: { a: 1 } })).toBe(2 + 7 + 4 + 7);
});

test("data set sizes parse with k and M suffixes", () => {
  expect(parseCounts("2000, 100k,1M")).toEqual([2000, 100_000, 1_000_000]);
  expect(() => parseCounts("1G")).toThrow(/not a count/);
  expect(() => parseCounts("0")).toThrow(/at least one/);
});

test("thread CPU splits this process's CPU between its main thread and the others", () => {
  const threads = threadCpuMs(process.pid);
  expect(threads.get(process.pid)?.cpuMs).toBeGreaterThan(0);
  const window = new ThreadCpuWindow(process.pid);
  window.start();
  const until = Date.now() + 200;
  while (Date.now() < until) Math.sqrt(Math.random()); // busy on the main thread
  const split = window.stop(10);
  expect(split["jsThreadCpuUsPerOp"]).toBeGreaterThan(0);
  expect(split["rocksdbCpuUsPerOp"]).toBe(0);
  expect(Object.keys(split).sort()).toEqual(["jsThreadCpuUsPerOp", "otherThreadsCpuUsPerOp", "rocksdbCpuUsPerOp"]);
  expect(new ThreadCpuWindow(process.pid).stop(5)).toEqual({});
});
