// Figures that compare the daemon with itself: one daemon per variant (other
// Node flags, another setting such as the fast path on or off), all started
// before the first round and stopped after the last, the same raw calls
// (clients/raw-rpc-client.ts) against each in alternating rounds, charged
// with that daemon's CPU. Each row is divided by the first variant's row of
// the same call (the report's "÷ base"). A new comparison (e.g. RPC threads)
// is a list of variants and calls.
import type { ClientHttp2Session } from "node:http2";
import { join } from "node:path";
import { clientsLabel, loopOn, NAMESPACE, type BenchEnv } from "../bench-env.js";
import { rawCall, rawSession, sendRaw, type RawCall, type RawProtocol, type RawRpc } from "../clients/raw-rpc-client.js";
import { cpuMetrics, opsPerSecMetric, type Figure, type Measure, type MeasureGroup, type MetricSpec } from "../measure.js";
import { startDaemon, type RunningDaemon } from "../peers/statehouse-daemon.js";

export interface DaemonVariant {
  /** Part of the measure ids, e.g. "fast". */
  id: string;
  /** How the report names it, e.g. "fast path (STATEHOUSE_FAST_PATH=1)". */
  label: string;
  /** Node flags instead of the systemd unit's. */
  nodeFlags?: readonly string[];
  /** STATEHOUSE_* settings of this daemon. */
  env?: Record<string, string>;
}

export interface VariantFigure {
  figure: Figure;
  /** Prefix of group and measure ids, e.g. "fp". */
  id: string;
  /** The first is the base every other variant is divided by. */
  variants: readonly DaemonVariant[];
  calls: readonly (readonly [RawRpc, RawProtocol])[];
  concurrency: number;
  /** HTTP/2 connections the closed loop's workers share, round robin (default 1; RPC threads serve a connection on one thread). */
  connections?: number;
}

const minorGcMetric = (figure: Figure): MetricSpec => ({
  key: "minorGcUsPerOp",
  figure,
  label: "daemon minor GC per call (warm-up included)",
  unit: "µs",
  better: "lower",
});

/**
 * The daemon's minor-GC seconds so far (`/metrics`): 0 before its first minor GC (the histogram has no
 * sample yet), NaN (left out of the report) when it does not export the histogram at all.
 */
async function minorGcSeconds(daemon: RunningDaemon): Promise<number> {
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  if (!text.includes("# TYPE nodejs_gc_duration_seconds histogram")) return Number.NaN;
  return Number(/^nodejs_gc_duration_seconds_sum\{kind="minor"\} (\S+)/m.exec(text)?.[1] ?? 0);
}

export function daemonVariantGroups(env: BenchEnv, spec: VariantFigure): MeasureGroup[] {
  const daemons = new Map<string, RunningDaemon>();
  const metrics = [opsPerSecMetric(spec.figure, "calls/s"), ...cpuMetrics(spec.figure, "call"), minorGcMetric(spec.figure)];
  const measureId = (variant: DaemonVariant, call: RawCall): string => `${spec.id}.${variant.id}.${call.rpc}-${call.protocol}`.toLowerCase();
  const base = spec.variants[0];
  if (base === undefined) throw new TypeError(`${spec.id}: no daemon variant`);

  const measureOf = (variant: DaemonVariant, call: RawCall): Measure => ({
    id: measureId(variant, call),
    cell: `${call.rpc}, ${call.protocol}, ${clientsLabel(spec.concurrency)}`,
    subject: `statehoused · ${variant.label}`,
    system: "statehouse",
    ...(variant === base ? {} : { baseRef: measureId(base, call) }),
    metrics,
    run: async () => {
      const daemon = daemons.get(variant.id);
      if (daemon === undefined) throw new Error(`${variant.label}: daemon not started`);
      const sessions: ClientHttp2Session[] = [];
      try {
        for (let i = 0; i < (spec.connections ?? 1); i++) sessions.push(await rawSession(daemon.url));
        let calls = 0;
        const gcBefore = await minorGcSeconds(daemon);
        const result = await loopOn(env, { pid: daemon.pid, withChildren: false }, spec.concurrency, env.plan.shortMs, async (worker) => {
          await sendRaw(sessions[worker % sessions.length] as ClientHttp2Session, call);
          calls++;
        });
        const gcUs = ((await minorGcSeconds(daemon)) - gcBefore) * 1e6;
        return { ...result, minorGcUsPerOp: gcUs / calls };
      } finally {
        for (const session of sessions) session.close();
      }
    },
  });

  const groups: MeasureGroup[] = spec.calls.map(([rpc, protocol]) => {
    const call = rawCall(rpc, protocol, NAMESPACE);
    return {
      id: `${spec.id}.${rpc}-${protocol}`.toLowerCase(),
      title: `${spec.figure}: ${rpc} over ${protocol}, ${clientsLabel(spec.concurrency)}`,
      measures: spec.variants.map((variant) => measureOf(variant, call)),
    };
  });
  const first = groups[0];
  const last = groups.at(-1);
  if (first !== undefined && last !== undefined) {
    first.setup = async () => {
      for (const variant of spec.variants) {
        const daemon = await startDaemon({
          dataDir: join(env.workDir, `${spec.id}-${variant.id}-data`),
          workDir: env.workDir,
          name: `statehoused-${spec.id}-${variant.id}`,
          ...(variant.env === undefined ? {} : { env: variant.env }),
          ...(variant.nodeFlags === undefined ? {} : { nodeFlags: variant.nodeFlags }),
        });
        daemons.set(variant.id, daemon);
        env.log(`${spec.figure}: ${variant.label} on ${daemon.url}`);
        // The key GetState reads exists from the start.
        const session = await rawSession(daemon.url);
        try {
          await sendRaw(session, rawCall("Transact", "gRPC", NAMESPACE));
        } finally {
          session.close();
        }
      }
    };
    last.teardown = async () => {
      for (const daemon of daemons.values()) await daemon.stop();
    };
  }
  return groups;
}

/** Fast path on and off (STATEHOUSE_FAST_PATH): Health, Transact and GetState over gRPC and Connect. */
export function fastPathGroups(env: BenchEnv): MeasureGroup[] {
  return daemonVariantGroups(env, {
    figure: "fastpath",
    id: "fp",
    variants: [
      { id: "connect-node", label: "connect-node serves every call (STATEHOUSE_FAST_PATH=0)", env: { STATEHOUSE_FAST_PATH: "0" } },
      { id: "fast", label: "fast path (STATEHOUSE_FAST_PATH=1, the default)", env: { STATEHOUSE_FAST_PATH: "1" } },
    ],
    calls: (["Health", "Transact", "GetState"] as const).flatMap((rpc) => (["gRPC", "Connect"] as const).map((protocol) => [rpc, protocol] as const)),
    concurrency: Math.max(...env.plan.concurrency),
  });
}

/** `--node-flags`' value: variants separated by "|", "shipped" for the systemd unit's flags. */
export function parseNodeFlagVariants(value: string): string[] {
  return value.split("|").map((variant) => variant.trim());
}

/** The daemon under each set of Node flags (the plan's): Health and Transact, gRPC and Connect. */
export function nodeFlagGroups(env: BenchEnv): MeasureGroup[] {
  return daemonVariantGroups(env, {
    figure: "flags",
    id: "flags",
    variants: env.plan.nodeFlagVariants.map((flags, i) => {
      if (flags === "shipped") return { id: `v${i}`, label: "the systemd unit's Node flags (as shipped)" };
      const nodeFlags = flags.split(" ").filter((flag) => flag !== "");
      return { id: `v${i}`, label: nodeFlags.length === 0 ? "no Node flags" : `node ${nodeFlags.join(" ")}`, nodeFlags };
    }),
    calls: [
      ["Health", "Connect"],
      ["Transact", "Connect"],
      ["Transact", "gRPC"],
    ],
    concurrency: Math.max(...env.plan.concurrency),
  });
}

/**
 * One daemon per --rpc-threads value (the plan's): Transact (durable commits, fsync on) and GetState
 * over gRPC, the closed loop's workers spread over 16 connections so that every thread gets some.
 */
export function rpcThreadGroups(env: BenchEnv): MeasureGroup[] {
  return daemonVariantGroups(env, {
    figure: "threads",
    id: "threads",
    variants: env.plan.rpcThreads.map((n) => ({ id: `t${n}`, label: `--rpc-threads ${n}`, env: { STATEHOUSE_RPC_THREADS: String(n) } })),
    calls: [
      ["Transact", "gRPC"],
      ["GetState", "gRPC"],
    ],
    concurrency: Math.max(...env.plan.concurrency),
    connections: 16,
  });
}
