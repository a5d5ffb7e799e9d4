// Bytes a process wrote, from /proc/PID/io (all of its threads, RocksDB's
// background flush and compaction threads included): `write_bytes` is what it
// sent to the block layer (the disk), `wchar` what it passed to write()-like
// calls (page cache included). Divided by the payload bytes committed in the
// same window this is the write amplification of a row.
import { readdirSync, readFileSync } from "node:fs";
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

/** CPU milliseconds of each thread of `pid` so far, by thread id (utime + stime from /proc/PID/task/TID/stat). */
export function threadCpuMs(pid: number): Map<number, { name: string; cpuMs: number }> {
  const out = new Map<number, { name: string; cpuMs: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended
    }
    const name = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    out.set(Number(tid), { name, cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 });
  }
  return out;
}

/**
 * The daemon's CPU per operation split by thread: its JavaScript thread (the thread whose id is
 * the pid), RocksDB's background flush and compaction threads ("rocksdb:…"), and the rest (V8's
 * GC helpers, libuv's pool). Threads that ended inside the window are not counted.
 */
export class ThreadCpuWindow implements WindowProbe {
  private before = new Map<number, { name: string; cpuMs: number }>();

  constructor(private readonly pid: number) {}

  start(): void {
    this.before = threadCpuMs(this.pid);
  }

  stop(ops: number): Record<string, number> {
    if (ops === 0 || this.before.size === 0) return {};
    let js = 0;
    let rocksdb = 0;
    let other = 0;
    for (const [tid, { name, cpuMs }] of threadCpuMs(this.pid)) {
      const used = cpuMs - (this.before.get(tid)?.cpuMs ?? 0);
      if (tid === this.pid) js += used;
      else if (name.startsWith("rocksdb:")) rocksdb += used;
      else other += used;
    }
    this.before = new Map();
    const perOp = (ms: number): number => (ms * 1000) / ops;
    return { jsThreadCpuUsPerOp: perOp(js), rocksdbCpuUsPerOp: perOp(rocksdb), otherThreadsCpuUsPerOp: perOp(other) };
  }
}
