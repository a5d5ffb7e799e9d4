// Where a process's main thread spent its time, by part of the stack, from a
// V8 .cpuprofile (node --cpu-prof): self time per sample, grouped by the
// script the sampled function lives in. Time blocked inside a synchronous
// native call (RocksDB's synced batch write) counts for that call's JS
// wrapper: this is main-thread wall time, not CPU time.
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The part of the daemon's stack a sampled function belongs to. */
function partOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(idle)") return "idle";
  if (functionName === "(program)") return "native (nghttp2, libuv, V8)";
  if (url.includes("rocksdb") || url.includes("abstract-level")) return "RocksDB binding (incl. blocking synced writes)";
  if (url.includes("@connectrpc")) return "connect";
  if (url.includes("@bufbuild")) return "protobuf-es";
  if (url.includes("libs/engine")) return "engine";
  if (url.includes("apps/daemon/dist/fast-path")) return "daemon: fast path";
  if (url.includes("apps/daemon")) return "daemon: service, validation, server";
  if (url.includes("prom-client") || url.includes("pino")) return "metrics and logs";
  if (url.startsWith("node:internal/http2")) return "Node http2";
  if (url.startsWith("node:")) return "Node core (events, streams, timers)";
  if (url === "") return "native";
  return "other";
}

/** Microseconds of main-thread time per part (idle excluded), largest first. */
export function profileParts(file: string): { part: string; us: number }[] {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parts = new Map<string, number>();
  for (const [i, id] of profile.samples.entries()) {
    const node = nodes.get(id);
    if (node === undefined) continue;
    const part = partOf(node);
    if (part !== "idle") parts.set(part, (parts.get(part) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return [...parts].map(([part, us]) => ({ part, us })).sort((a, b) => b.us - a.us);
}
