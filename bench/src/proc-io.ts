// Bytes a process wrote, from /proc/PID/io (all of its threads, RocksDB's
// background flush and compaction threads included): `write_bytes` is what it
// sent to the block layer (the disk), `wchar` what it passed to write()-like
// calls (page cache included). Divided by the payload bytes committed in the
// same window this is the write amplification of a row.
import { readFileSync } from "node:fs";
import type { WindowProbe } from "./closed-loop.js";

export interface ProcIo {
  wchar: number;
  writeBytes: number;
}

export function procIo(pid: number): ProcIo {
  const text = readFileSync(`/proc/${pid}/io`, "utf8");
  const field = (name: string): number => {
    const value = new RegExp(`^${name}:\\s+(\\d+)$`, "m").exec(text)?.[1];
    if (value === undefined) throw new Error(`/proc/${pid}/io has no ${name}`);
    return Number(value);
  };
  return { wchar: field("wchar"), writeBytes: field("write_bytes") };
}

/**
 * Counts the payload bytes of the transactions acknowledged while the window is
 * open (`add` after each acknowledgement) and the server's /proc/PID/io writes
 * over the same window; `stop` returns bytes written per committed byte.
 */
export class WriteAmplificationWindow implements WindowProbe {
  private committed = 0;
  private open = false;
  private before: ProcIo | null = null;
  private result: Record<string, number> | null = null;

  constructor(private readonly pid: number) {}

  /** Payload bytes of one acknowledged transaction (ignored outside the window). */
  add(bytes: number): void {
    if (this.open) this.committed += bytes;
  }

  start(): void {
    this.before = procIo(this.pid);
    this.committed = 0;
    this.open = true;
  }

  stop(): Record<string, number> {
    if (this.result !== null) return this.result;
    this.open = false;
    if (this.before === null || this.committed === 0) return {};
    const after = procIo(this.pid);
    this.result = {
      committedBytes: this.committed,
      diskWriteBytes: after.writeBytes - this.before.writeBytes,
      wcharBytes: after.wchar - this.before.wchar,
      writeAmplification: (after.writeBytes - this.before.writeBytes) / this.committed,
      wcharAmplification: (after.wchar - this.before.wchar) / this.committed,
    };
    return this.result;
  }
}

/** Several window probes as one (their results merged). */
export function combineWindows(...probes: WindowProbe[]): WindowProbe {
  return {
    start: () => {
      for (const probe of probes) probe.start();
    },
    stop: (ops) => Object.assign({}, ...probes.map((probe) => probe.stop(ops))) as Record<string, number>,
  };
}
