// `npm run bench [-- --quick] [-- --only P1,P3] [-- --huge] [-- --smoke] [-- --scale] [-- --security] [-- --soak [--duration 30m]]`
// (`--only protocols|fastpath|flags|threads|engine`: the daemon's and the engine's own figures;
// `--only threads --rpc-threads 1,2`: one daemon per --rpc-threads value)
import { Command, Option } from "commander";
import { join } from "node:path";
import { DEFAULT_NODE_FLAG_VARIANTS, parseCounts, parseRpcThreadCounts } from "./bench-plan.js";
import { DEFAULT_FIGURES, FIGURES, type Figure } from "./measure.js";
import { REPO_ROOT } from "./peers/statehouse-daemon.js";
import { runRetentionBench } from "./retention-bench.js";
import { runBench } from "./run-bench.js";
import { runClusterBench } from "./cluster-bench.js";
import { CLUSTER_CLIENTS } from "./cluster-plan.js";
import { runSecurityBench } from "./security-bench.js";
import { runCommitStallBench } from "./commit-stall-bench.js";
import { runSoakBench } from "./soak-bench.js";
import { FULL_SOAK_MS, parseDuration } from "./soak-plan.js";
import { parseNodeFlagVariants } from "./workloads/daemon-variants.js";

function parseFigures(value: string): Figure[] {
  const figures = value.split(",").map((f) => f.trim()).filter((f) => f !== "");
  for (const f of figures) {
    if (!(FIGURES as readonly string[]).includes(f)) throw new Error(`--only: unknown figure ${f} (use ${FIGURES.join(", ")})`);
  }
  return figures as Figure[];
}

const program = new Command()
  .name("statehouse-bench")
  .description("Side-by-side benchmarks of Statehouse vs etcd and PostgreSQL on this machine")
  .option("--quick", "short runs (2 rounds of ~1 s windows)")
  .option("--smoke", "seconds, Statehouse only, P1-P6 on tiny data (what the test target runs)")
  .option("--huge", "add the 10M-record data set to P4/P6")
  .option("--retention", "P1/P2 with history compaction running vs not (results/retention.*; ~2 min)")
  .option("--scale", "P1/P4/P6 only, on 100k, 1M and 10M records (one table; ~20 min, ~6 GB of scratch disk)")
  .option("--cluster", "P1/P2 for 1, 2 and 3 daemons in cluster mode over one PostgreSQL, beside RocksDB and plain PostgreSQL (results/cluster.*; ~2 min)")
  .addOption(new Option("--cluster-client <client>", "--cluster: the daemon rows' client, raw (hand-encoded gRPC on node:http2, the default) or connect-node").choices(CLUSTER_CLIENTS))
  .option("--security", "P1 and P5 at 64 clients, TLS + API key vs plain, as ratios (results/security.*; ~1 min per round)")
  .option("--commit-stall", "Health p50/p99/max while P1 (64 clients, grpc-js Transact) commits, with daemon CPU per commit (results/commit-stall.*; ~15 s per daemon and round)")
  .option("--baseline <dir>", "with --commit-stall: also run the daemon built in this other checkout (before), in alternating rounds")
  .option("--soak", "1,000 connections, 10,000 open transactions and mixed TS + Python SDK load with retention on a test clock (results/soak.*; 30 min, not in CI)")
  .addOption(new Option("--duration <time>", "--soak: how long the load runs, e.g. 30m (default), 60s").argParser(parseDuration))
  .addOption(new Option("--datasets <counts>", "data set sizes in records, e.g. 100k,1M").argParser(parseCounts))
  .addOption(new Option("--only <figures>", `comma list of ${FIGURES.join(",")} (default ${DEFAULT_FIGURES.join(",")})`).argParser(parseFigures))
  .addOption(
    new Option("--node-flags <variants>", `the flags figure's daemons: Node flags per variant, "|" between variants, "shipped" = the systemd unit's (default "${DEFAULT_NODE_FLAG_VARIANTS.join("|")}")`).argParser(parseNodeFlagVariants),
  )
  .addOption(new Option("--rpc-threads <counts>", "the threads figure's daemons: --rpc-threads values, comma-separated, the first the base (default 1,2,4,… up to the cores)").argParser(parseRpcThreadCounts))
  .addOption(new Option("--rounds <n>", "alternating rounds").argParser((v) => Number.parseInt(v, 10)))
  .option("--out <dir>", "where the JSON, Markdown and SVG go", join(REPO_ROOT, "bench", "results"))
  .option("--scratch <dir>", "parent dir for data dirs (a real disk, not tmpfs)", "/var/tmp")
  .option("--keep", "keep the scratch dir (data and peer logs)")
  .option("--datasets-dir <dir>", "keep the P4/P6 data sets here and reuse them in later runs")
  .option("--profile", "profile the daemon under P1/P3 load (default in full mode)")
  .option("--no-profile", "skip the daemon profile");

program.parse();
const opts = program.opts<{ quick?: boolean; smoke?: boolean; huge?: boolean; scale?: boolean; security?: boolean; retention?: boolean; cluster?: boolean; clusterClient?: string; soak?: boolean; duration?: number; commitStall?: boolean; baseline?: string; datasets?: number[]; only?: Figure[]; rounds?: number; out: string; scratch: string; keep?: boolean; datasetsDir?: string; profile?: boolean; nodeFlags?: string[]; rpcThreads?: number[] }>();
const args = process.argv.slice(2);
const command = `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`;
const { markdown, files } = opts.soak === true
  ? await runSoakBench({ durationMs: opts.duration ?? FULL_SOAK_MS, outDir: opts.out, scratchDir: opts.scratch, command, ...(opts.duration === undefined || opts.duration === FULL_SOAK_MS ? {} : { name: "soak-short" }) })
  : opts.security === true
  ? await runSecurityBench({
      ...(opts.quick === undefined ? {} : { quick: opts.quick }),
      ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
      outDir: opts.out,
      scratchDir: opts.scratch,
      command,
    })
  : opts.cluster === true
  ? await runClusterBench({
      ...(opts.quick === undefined ? {} : { quick: opts.quick }),
      ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
      ...(opts.clusterClient === undefined ? {} : { client: opts.clusterClient }),
      outDir: opts.out,
      scratchDir: opts.scratch,
      command,
    })
  : opts.commitStall === true
  ? await runCommitStallBench({ outDir: opts.out, scratchDir: opts.scratch, rounds: opts.rounds ?? 3, windowMs: opts.quick === true ? 2_000 : 8_000, baseline: opts.baseline ?? null, command })
  : opts.retention === true
  ? await runRetentionBench({ outDir: opts.out, scratchDir: opts.scratch, rounds: opts.rounds ?? 3, backlog: 20_000, windowMs: 5_000, command })
  : await runBench({
      ...(opts.quick === undefined ? {} : { quick: opts.quick }),
      ...(opts.smoke === undefined ? {} : { smoke: opts.smoke }),
      ...(opts.huge === undefined ? {} : { huge: opts.huge }),
      ...(opts.scale === undefined ? {} : { scale: opts.scale }),
      ...(opts.datasets === undefined ? {} : { datasets: opts.datasets }),
      ...(opts.only === undefined ? {} : { only: opts.only }),
      ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
      ...(opts.keep === undefined ? {} : { keep: opts.keep }),
      ...(opts.datasetsDir === undefined ? {} : { datasetsDir: opts.datasetsDir }),
      ...(opts.profile === undefined ? {} : { profile: opts.profile }),
      ...(opts.nodeFlags === undefined ? {} : { nodeFlagVariants: opts.nodeFlags }),
      ...(opts.rpcThreads === undefined ? {} : { rpcThreads: opts.rpcThreads }),
      outDir: opts.out,
      scratchDir: opts.scratch,
      command,
    });
console.log(markdown);
for (const file of files) console.error(`[bench] wrote ${file}`);
