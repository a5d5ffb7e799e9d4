// How statehoused is started: V8 and glibc malloc sizing that Node cannot change once it runs
// (README, "Memory"). The systemd unit is the one place they are written down; the `statehoused`
// shebang repeats the flags, and the bench reads both from the unit.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "./config.js";

const read = (path: string): Promise<string> => readFile(new URL(path, import.meta.url), "utf8");
const unit = await read("../packaging/statehoused.service");
const execStart = /^ExecStart=(\S+\/node) (.*?) ?(\S+\/apps\/daemon\/dist\/bundle\/statehoused\.js)$/m.exec(unit);

describe("process tuning", () => {
  it("the systemd unit starts node with the memory flags and one malloc arena", () => {
    expect(execStart?.[2]).toBe("--max-semi-space-size=4 --max-old-space-size=1024");
    expect(unit).toMatch(/^Environment=MALLOC_ARENA_MAX=1$/m);
  });

  it("the statehoused executable's shebang passes the same flags", async () => {
    const main = await read("./main.ts");
    expect(main.split("\n", 1)[0]).toBe(`#!/usr/bin/env -S node ${execStart?.[2] ?? "?"}`);
  });

  it("the old-space limit leaves room under the unit's MemoryMax", () => {
    const memoryMaxMiB = Number(/^MemoryMax=(\d+)G$/m.exec(unit)?.[1]) * 1024;
    const oldSpaceMiB = Number(/--max-old-space-size=(\d+)/.exec(execStart?.[2] ?? "")?.[1]);
    // Beside the JS heap: RocksDB (cache + memtables), the young generation, native memory, code.
    expect(oldSpaceMiB).toBeLessThanOrEqual(memoryMaxMiB - 384);
  });

  it("the old-space limit holds the default staged-data budget with 256 MiB to spare", () => {
    const oldSpaceMiB = Number(/--max-old-space-size=(\d+)/.exec(execStart?.[2] ?? "")?.[1]);
    const stagedMiB = Number(SETTINGS.find((s) => s.key === "maxStagedBytes")?.default) / (1024 * 1024);
    expect(stagedMiB).toBeGreaterThan(0);
    expect(oldSpaceMiB).toBeGreaterThanOrEqual(stagedMiB + 256);
  });
});
