// The disk's own limit: append VALUE_BYTES and fdatasync, one after another,
// on the same filesystem as the peers' data dirs.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { VALUE_BYTES } from "../bench-value.js";

export function fdatasyncRate(dir: string, durationMs: number): { opsPerSec: number; p50Ms: number } {
  const file = join(dir, "fdatasync-probe.log");
  const fd = openSync(file, "a");
  const record = Buffer.alloc(VALUE_BYTES, 0x61);
  const latencies: number[] = [];
  try {
    const end = performance.now() + durationMs;
    for (let t = performance.now(); t < end; ) {
      writeSync(fd, record);
      fdatasyncSync(fd);
      const now = performance.now();
      latencies.push(now - t);
      t = now;
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  latencies.sort((a, b) => a - b);
  return { opsPerSec: latencies.length / (durationMs / 1000), p50Ms: latencies[Math.floor(latencies.length / 2)] ?? Number.NaN };
}
