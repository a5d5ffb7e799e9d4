// Summarises a V8 .cpuprofile (node --cpu-prof): self time by category
// (garbage collection, native, each npm package, our engine and daemon,
// Node's internals by module) and the top functions by self time.
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  scenario: string;
  /** Sampled time, ms (wall time the profiler ran, idle included). */
  sampledMs: number;
  /** Busy share of the sampled time. */
  busyPct: number;
  /** Shares of busy time. */
  categories: { name: string; pct: number }[];
  topFunctions: { name: string; where: string; pct: number }[];
}

/** Which part of the system a frame belongs to. */
export function categoryOf(url: string, functionName: string): string {
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(idle)") return "idle";
  if (functionName === "(program)" || url === "") return functionName.startsWith("(") ? "native (V8/C++: RocksDB, syscalls, ...)" : "native or builtin";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  if (url.includes("/libs/engine/")) return "@statehouse/engine";
  if (url.includes("/libs/api/")) return "@statehouse/api";
  if (url.includes("/apps/daemon/")) return "@statehouse/daemon";
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url)?.[1];
  if (internal !== undefined) return `node:${internal}`;
  return "other";
}

/** Microseconds of CLOCK_MONOTONIC: the clock V8 stamps profile samples with, in every process. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * `window` ([from, to] in monotonicUs) keeps only the samples taken while the
 * scenario ran, leaving out the daemon's start-up and shutdown.
 */
export function summarizeCpuProfile(file: string, scenario: string, window?: readonly [number, number], top = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const tally = (inWindow: (t: number) => boolean): [Map<number, number>, number] => {
    const self = new Map<number, number>();
    let sum = 0;
    let t = profile.startTime;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      t += dt;
      if (!inWindow(t)) return;
      self.set(id, (self.get(id) ?? 0) + dt);
      sum += dt;
    });
    return [self, sum];
  };
  let [selfUs, total] = window === undefined ? tally(() => true) : tally((t) => t >= window[0] && t <= window[1]);
  if (total === 0) [selfUs, total] = tally(() => true); // clocks did not line up: keep everything
  const categories = new Map<string, number>();
  const functions = new Map<string, { name: string; where: string; us: number }>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    const category = categoryOf(frame.url, frame.functionName);
    if (category === "idle") {
      idle += us;
      continue;
    }
    categories.set(category, (categories.get(category) ?? 0) + us);
    const where = frame.url === "" ? "" : `${frame.url.replace(/^.*\/(node_modules|libs|apps)\//, "$1/")}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${where}`;
    const entry = functions.get(key) ?? { name: frame.functionName || "(anonymous)", where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
  }
  const busy = total - idle;
  const pct = (us: number): number => Math.round((us / Math.max(1, busy)) * 1000) / 10;
  return {
    scenario,
    sampledMs: Math.round(total / 1000),
    busyPct: Math.round((busy / Math.max(1, total)) * 1000) / 10,
    categories: [...categories].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, pct: pct(us) })),
    topFunctions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, pct: pct(f.us) })),
  };
}
