// CPU time spent by the server processes (and by this client process) during
// a measurement window, per operation: where the time goes without a
// profiler. Server time comes from /proc/PID/stat (utime + stime) of the
// server process and, for PostgreSQL, of every backend it forked.
import { readdirSync, readFileSync } from "node:fs";
import type { WindowProbe } from "./closed-loop.js";

const TICK_MS = 10; // USER_HZ is 100 on Linux (getconf CLK_TCK)

interface ProcStat {
  ppid: number;
  cpuMs: number;
}

function procStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces: split after its closing parenthesis.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
    return { ppid: Number(fields[1]), cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS };
  } catch {
    return null;
  }
}

/**
 * CPU milliseconds of the children `pid` has already reaped (cutime + cstime, fields 16-17 of
 * /proc/PID/stat): PostgreSQL backends that exited during a window are no longer in /proc, but the
 * postmaster's counters keep their time.
 */
export function reapedChildrenCpuMs(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** CPU milliseconds used so far by `pid` (plus its direct children when asked). */
export function processCpuMs(pid: number, withChildren = false): number {
  let total = procStat(pid)?.cpuMs ?? 0;
  if (withChildren) {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = procStat(Number(entry));
      if (stat !== null && stat.ppid === pid) total += stat.cpuMs;
    }
  }
  return total;
}

export interface ServerProcess {
  pid: number;
  /** Count the CPU of its direct children too (PostgreSQL's backends). */
  withChildren: boolean;
}

export interface CpuProbe {
  start(): void;
  stop(): void;
  /** Server and client CPU microseconds per operation between start and stop. */
  perOp(ops: number): { serverCpuUsPerOp: number; clientCpuUsPerOp: number };
}

export function thisProcessCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/**
 * `clientCpuMs` defaults to this process's CPU time; pass another reader when
 * the client runs elsewhere (the Python worker reports its own).
 */
export function cpuProbe(server: ServerProcess, clientCpuMs: () => number = thisProcessCpuMs): CpuProbe {
  let serverMs = 0;
  let clientMs = 0;
  let state: "new" | "started" | "stopped" = "new";
  return {
    start() {
      serverMs = -processCpuMs(server.pid, server.withChildren);
      clientMs = -clientCpuMs();
      state = "started";
    },
    stop() {
      if (state !== "started") return;
      serverMs += processCpuMs(server.pid, server.withChildren);
      clientMs += clientCpuMs();
      state = "stopped";
    },
    perOp(ops) {
      // NaN (left out of the report) unless the window was seen to open and close.
      const perOp = (ms: number): number => (ops > 0 && state === "stopped" ? (ms * 1000) / ops : Number.NaN);
      return { serverCpuUsPerOp: perOp(serverMs), clientCpuUsPerOp: perOp(clientMs) };
    },
  };
}

/** The closed loop's window hooks for a CPU probe. */
export function cpuWindow(probe: CpuProbe): WindowProbe {
  return {
    start: () => probe.start(),
    stop: (ops) => {
      probe.stop();
      return probe.perOp(ops);
    },
  };
}
