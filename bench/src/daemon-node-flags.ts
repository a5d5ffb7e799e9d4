// Which Node flags help statehoused? Starts the daemon once per flag variant
// (rounds interleaved), drives a fixed amount of work over Connect h2c at
// concurrency 64 (Health calls, then one-write Transact commits), and reports
// the daemon's CPU microseconds per call (from /proc) and its minor-GC time per
// call (from /metrics). CPU per call of fixed work is far less sensitive to
// other load on the machine than calls per second.
//
//   node_modules/.bin/node bench/src/daemon-node-flags.ts [--rounds 5] [--calls 30000]
//     [--variants "--stack-trace-limit=10||--max-semi-space-size=64"]
// Variants are separated by "|"; an empty one runs `node dist/main.js` with no flags (its
// main.js sets Error.stackTraceLimit = 0 unless --stack-trace-limit is given,
// so "--stack-trace-limit=10" is Node's default behaviour).
// Needs `npx nx run daemon:build` first. Self-contained so Node runs the source.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { StatehouseService } from "@statehouse/api";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const S = StatehouseService.method;
const CONCURRENCY = 64;

interface Sample {
  cpuUsPerCall: number;
  gcUsPerCall: number;
}

async function runVariant(flags: string[], calls: number): Promise<{ health: Sample; transact: Sample }> {
  const work = mkdtempSync(join(tmpdir(), "statehoused-flags-"));
  const readyFile = join(work, "ready.json");
  const child = spawn(join(REPO_ROOT, "node_modules/.bin/node"), [...flags, join(REPO_ROOT, "apps/daemon/dist/main.js")], {
    env: { PATH: process.env["PATH"] ?? "", STATEHOUSE_LISTEN_ADDR: "127.0.0.1:0", STATEHOUSE_DATA_DIR: join(work, "data"), STATEHOUSE_READY_FILE: readyFile, STATEHOUSE_LOG_LEVEL: "warn" },
    stdio: "inherit",
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    while (!existsSync(readyFile)) {
      if (child.exitCode !== null) throw new Error(`statehoused exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const { address, pid } = JSON.parse(readFileSync(readyFile, "utf8")) as { address: string; pid: number };
    const cpuSeconds = (): number => {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      return (Number(fields[11]) + Number(fields[12])) / 100;
    };
    const minorGcSeconds = async (): Promise<number> => {
      const text = await (await fetch(`http://${address}/metrics`)).text();
      return Number(/^nodejs_gc_duration_seconds_sum\{kind="minor"\} (\S+)/m.exec(text)?.[1] ?? Number.NaN);
    };
    const sessionManager = new Http2SessionManager(`http://${address}`);
    const transport = createConnectTransport({ baseUrl: `http://${address}`, httpVersion: "2", sessionManager });
    const health = (): Promise<unknown> => transport.unary(S.health, undefined, undefined, undefined, {});
    const transact = (i: number): Promise<unknown> =>
      transport.unary(S.transact, undefined, undefined, undefined, { operations: [{ namespace: "bench", agentId: `a${i % CONCURRENCY}`, key: `k${i % 100}`, value: { i } }] });
    const run = async (n: number, op: (i: number) => Promise<unknown>): Promise<Sample> => {
      const cpu0 = cpuSeconds();
      const gc0 = await minorGcSeconds();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < n) await op(next++);
        }),
      );
      return { cpuUsPerCall: ((cpuSeconds() - cpu0) / n) * 1e6, gcUsPerCall: (((await minorGcSeconds()) - gc0) / n) * 1e6 };
    };
    await run(calls / 10, health); // warm-up
    const result = { health: await run(calls, health), transact: await run(calls / 2, transact) };
    sessionManager.abort();
    return result;
  } finally {
    child.kill("SIGTERM");
    await exited;
    rmSync(work, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "5" },
      calls: { type: "string", default: "30000" },
      variants: { type: "string", default: "--stack-trace-limit=10||--max-semi-space-size=64" },
    },
  });
  const variants = values.variants.split("|").map((v) => v.split(" ").filter((f) => f !== ""));
  const samples = variants.map(() => [] as { health: Sample; transact: Sample }[]);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [i, flags] of variants.entries()) {
      const sample = await runVariant(flags, Number(values.calls));
      samples[i]?.push(sample);
      process.stderr.write(`round ${round + 1} ${flags.join(" ") || "(no flags)"}: health ${sample.health.cpuUsPerCall.toFixed(0)} µs, transact ${sample.transact.cpuUsPerCall.toFixed(0)} µs\n`);
    }
  }
  console.log(`daemon CPU per call, median of ${values.rounds} interleaved rounds, ${values.calls} Health + ${Number(values.calls) / 2} Transact calls each, Connect h2c x${CONCURRENCY}`);
  console.log("| daemon node flags | Health µs CPU/call | minor GC µs/call | Transact µs CPU/call | minor GC µs/call |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [i, flags] of variants.entries()) {
    const s = samples[i] ?? [];
    const m = (pick: (x: { health: Sample; transact: Sample }) => number): string => median(s.map(pick)).toFixed(0);
    console.log(`| ${flags.join(" ") || "(none; the systemd unit adds --max-semi-space-size=4 --max-old-space-size=1536)"} | ${m((x) => x.health.cpuUsPerCall)} | ${m((x) => x.health.gcUsPerCall)} | ${m((x) => x.transact.cpuUsPerCall)} | ${m((x) => x.transact.gcUsPerCall)} |`);
  }
}

await main();
