// Daemon CPU per call with the fast path (STATEHOUSE_FAST_PATH=1) and with
// connect-node serving every call (=0): two daemons (RocksDB, fsync on) run
// side by side; a thin raw node:http2 client (pre-encoded requests, so the
// client costs little) drives each (RPC, protocol) cell at a fixed
// concurrency, and the daemon's CPU time from /proc/PID/stat over the cell,
// divided by the calls, is the figure. Rounds interleave the two daemons;
// the table shows medians and the connect-node / fast-path ratio.
//
//   npx nx run daemon:build && npx nx run bench:build && node_modules/.bin/node bench/dist/fast-path-bench.js [--rounds 3] [--calls 20000] [--concurrency 64]
//
// --only Transact/gRPC runs one cell; --profile runs the daemons under
// --cpu-prof and adds where each one's main thread spent its time, by part.
import http2 from "node:http2";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { StatehouseService } from "@statehouse/api";
import { profileParts } from "./cpu-profile-parts.js";
import { processCpuMs } from "./cpu-probe.js";
import { startDaemon, type RunningDaemon } from "./peers/statehouse-daemon.js";
import { median } from "./stats.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    calls: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
    only: { type: "string" },
    profile: { type: "boolean", default: false },
  },
});
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const CONCURRENCY = Number(values.concurrency);

const S = StatehouseService.method;

function bin<I extends DescMessage>(schema: I, init: MessageInitShape<I>): Buffer {
  return Buffer.from(toBinary(schema, create(schema, init)));
}

function envelope(data: Buffer): Buffer {
  const out = Buffer.alloc(5 + data.length);
  out.writeUInt32BE(data.length, 1);
  data.copy(out, 5);
  return out;
}

interface Cell {
  rpc: string;
  protocol: "gRPC" | "Connect";
  path: string;
  body: Buffer;
}

const requests = {
  Health: bin(S.health.input, {}),
  Transact: bin(S.transact.input, { operations: [{ namespace: "bench", agentId: "fp", key: "k", value: { n: 1, text: "fast path bench" } }] }),
  GetState: bin(S.getState.input, { namespace: "bench", agentId: "fp", key: "k" }),
};
const cells: Cell[] = [];
for (const [rpc, message] of Object.entries(requests)) {
  for (const protocol of ["gRPC", "Connect"] as const) {
    if (values.only !== undefined && values.only !== `${rpc}/${protocol}`) continue;
    cells.push({ rpc, protocol, path: `/statehouse.v1.StatehouseService/${rpc}`, body: protocol === "gRPC" ? envelope(message) : message });
  }
}
if (cells.length === 0) throw new Error(`--only ${values.only ?? ""}: expected one of Health, Transact, GetState / gRPC, Connect (e.g. Transact/gRPC)`);

function headersFor(cell: Cell): http2.OutgoingHttpHeaders {
  return cell.protocol === "gRPC"
    ? { ":method": "POST", ":path": cell.path, "content-type": "application/grpc", te: "trailers" }
    : { ":method": "POST", ":path": cell.path, "content-type": "application/proto" };
}

function call(session: http2.ClientHttp2Session, cell: Cell): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headersFor(cell));
    let ok = false;
    let status: unknown;
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => {
      status = h[":status"];
      ok = status === 200 && (cell.protocol === "Connect" || h["grpc-status"] === undefined);
    });
    stream.on("trailers", (t) => {
      trailers = t;
      ok = ok && t["grpc-status"] === "0";
    });
    stream.on("data", () => undefined);
    stream.on("error", reject);
    stream.on("close", () => (ok ? resolve() : reject(new Error(`${cell.protocol} ${cell.rpc} failed: ${status} ${JSON.stringify(trailers)} (stream reset code ${stream.rstCode})`))));
    stream.end(cell.body);
  });
}

/** `calls` calls at CONCURRENCY in flight; returns elapsed ms. */
async function drive(session: http2.ClientHttp2Session, cell: Cell, calls: number): Promise<number> {
  let next = 0;
  let failed: unknown = null;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < calls && failed === null) {
        next += 1;
        await call(session, cell).catch((error: unknown) => (failed ??= error));
      }
    }),
  );
  if (failed !== null) throw failed;
  return performance.now() - started;
}

interface Target {
  mode: "connect-node" | "fast path";
  daemon: RunningDaemon;
  session: http2.ClientHttp2Session;
  profileDir: string;
  /** Every call sent, warm-up included (for the profile's per-call figures). */
  calls: number;
}

const work = mkdtempSync(join(tmpdir(), "fast-path-bench-"));
const targets: Target[] = [];
try {
  for (const [mode, flag] of [
    ["connect-node", "0"],
    ["fast path", "1"],
  ] as const) {
    const profileDir = join(work, `profile-${flag}`);
    const env: Record<string, string> = { STATEHOUSE_FAST_PATH: flag, ...(values.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } : {}) };
    const daemon = await startDaemon({ dataDir: join(work, `data-${flag}`), workDir: work, name: `statehoused-${flag}`, env });
    targets.push({ mode, daemon, session: http2.connect(daemon.url), profileDir, calls: 0 });
  }
  // Connections opened while the other daemon was starting may have idled: start afresh.
  for (const target of targets) {
    target.session.close();
    target.session = http2.connect(target.daemon.url);
  }
  const samples = new Map<string, { cpuUs: number[]; rate: number[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const cell of cells) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        await drive(target.session, cell, Math.min(2000, CALLS));
        const cpuBefore = processCpuMs(target.daemon.pid);
        const ms = await drive(target.session, cell, CALLS);
        target.calls += Math.min(2000, CALLS) + CALLS;
        const cpuMs = processCpuMs(target.daemon.pid) - cpuBefore;
        const key = `${cell.rpc}|${cell.protocol}|${target.mode}`;
        const entry = samples.get(key) ?? { cpuUs: [], rate: [] };
        entry.cpuUs.push((cpuMs * 1000) / CALLS);
        entry.rate.push((CALLS * 1000) / ms);
        samples.set(key, entry);
      }
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
  }
  const lines = [
    `fast path vs connect-node: daemon CPU µs per call (/proc/PID/stat), ${CALLS} calls per cell at concurrency ${CONCURRENCY} over h2c, RocksDB, fsync on, median of ${ROUNDS} interleaved round(s), Node ${process.version}`,
    "",
    "| RPC | protocol | connect-node µs/call | fast path µs/call | connect-node / fast | connect-node calls/s | fast path calls/s |",
    "|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const cell of cells) {
    const slow = samples.get(`${cell.rpc}|${cell.protocol}|connect-node`);
    const fast = samples.get(`${cell.rpc}|${cell.protocol}|fast path`);
    if (slow === undefined || fast === undefined) continue;
    const [s, f] = [median(slow.cpuUs), median(fast.cpuUs)];
    lines.push(`| ${cell.rpc} | ${cell.protocol} | ${s.toFixed(0)} | ${f.toFixed(0)} | ${(s / f).toFixed(2)}× | ${median(slow.rate).toFixed(0)} | ${median(fast.rate).toFixed(0)} |`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  if (values.profile) {
    for (const target of targets) {
      target.session.close();
      await target.daemon.stop();
    }
    for (const target of targets) {
      const file = readdirSync(target.profileDir).find((f) => f.endsWith(".cpuprofile"));
      if (file === undefined) throw new Error(`no .cpuprofile in ${target.profileDir}`);
      const parts = profileParts(join(target.profileDir, file));
      const total = parts.reduce((sum, p) => sum + p.us, 0);
      const out = [
        "",
        `${target.mode}: main-thread time per call by part (${target.calls} calls, whole run; wall time, blocking native calls included): ${(total / target.calls).toFixed(0)} µs`,
        "",
        "| part | µs/call | share |",
        "|---|---:|---:|",
        ...parts.filter((p) => p.us / total >= 0.005).map((p) => `| ${p.part} | ${(p.us / target.calls).toFixed(1)} | ${((100 * p.us) / total).toFixed(0)}% |`),
      ];
      process.stdout.write(`${out.join("\n")}\n`);
    }
  }
} finally {
  for (const target of targets) {
    target.session.close();
    await target.daemon.stop(); // a no-op once stopped
  }
  rmSync(work, { recursive: true, force: true });
}
