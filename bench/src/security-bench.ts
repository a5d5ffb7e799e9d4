// `npm run bench -- --security`: the cost of TLS + API keys (issue 15). Two
// daemons on the same machine, one plain (loopback development mode, no
// credentials) and one with TLS (a CA made at run time) and `--auth required`,
// both with the shipped defaults otherwise (fsync on). The same TS SDK
// workloads run against each, back to back in alternating order: P1
// (durable commits/s, transact(ops), one round trip) and P5 (point reads/s,
// getState) at 64 clients, the secure daemon's client sending a key with write
// on the bench namespace. Each figure is the median over rounds of the
// per-round ratio secure ÷ plain (aim ≥ 0.9); every sample is in the JSON.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, Role } from "@statehouse/api";
import { Statehouse } from "@statehouse/sdk";
import { clientsLabel, NAMESPACE } from "./bench-env.js";
import { makePlan, type BenchPlan } from "./bench-plan.js";
import { benchValue } from "./bench-value.js";
import { runClosedLoop } from "./closed-loop.js";
import { cpuProbe, cpuWindow } from "./cpu-probe.js";
import { describeMachine, loadAverage1m } from "./machine-info.js";
import { cpuMetrics, opsPerSecMetric, type Measure, type MeasureGroup } from "./measure.js";
import { startDaemon, type RunningDaemon } from "./peers/statehouse-daemon.js";
import { runRounds, type MeasureSamples } from "./run-rounds.js";
import { median, roundSig } from "./stats.js";

const CONCURRENCY = 64;
const KEYS_PER_CLIENT = 100;
/** Keys of the P5 read agent, written to both daemons before the rounds. */
const READ_KEYS = 10_000;
const READ_AGENT = "p5-reads";

export interface SecurityBenchOptions {
  quick?: boolean;
  rounds?: number;
  outDir: string | null;
  scratchDir?: string;
  command?: string;
  log?: (message: string) => void;
}

/** One subject against one daemon. */
interface Target {
  label: "plain" | "TLS + API key";
  daemon: RunningDaemon;
  client: () => Statehouse;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A throwaway CA and a server certificate for 127.0.0.1 (EC P-256), as the daemon's README makes them. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(["req", "-x509", ...ec, "-days", "2", "-subj", "/CN=statehouse-bench-ca", "-keyout", "ca.key", "-out", "ca.pem"]
    .concat(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]), dir);
  openssl(["req", ...ec, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"], dir);
  writeFileSync(join(dir, "server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "1", "-days", "1"]
    .concat(["-extfile", "server.ext", "-out", "server.pem"]), dir);
  return { ca: readFileSync(join(dir, "ca.pem"), "utf8"), cert: join(dir, "server.pem"), key: join(dir, "server.key") };
}

/** A key with write on the bench namespace, made with the first admin key (what a deployment hands an agent). */
async function createWriterKey(url: string, ca: string, admin: string): Promise<string> {
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: "1.1",
    nodeOptions: { ca, headers: { authorization: `Bearer ${admin}` } },
  });
  const response = await createClient(AuthService, transport).createApiKey({
    name: "bench writer",
    grants: [{ namespacePattern: NAMESPACE, role: Role.WRITE }],
  });
  return response.secret;
}

function measuresFor(plan: BenchPlan, targets: readonly Target[]): MeasureGroup[] {
  const cell = clientsLabel(CONCURRENCY);
  const loop = (target: Target, durationMs: number, op: (w: number, seq: number) => Promise<void>) =>
    runClosedLoop({
      concurrency: CONCURRENCY,
      warmupMs: plan.warmupMs,
      durationMs,
      op,
      window: cpuWindow(cpuProbe({ pid: target.daemon.pid, withChildren: false })),
    });
  const p1 = targets.map(
    (target): Measure => ({
      id: `p1.${target.label === "plain" ? "plain" : "secure"}`,
      cell,
      subject: `Statehouse · TS SDK transact(ops) · ${target.label}`,
      system: "statehouse",
      metrics: [opsPerSecMetric("P1", "durable commits/s"), ...cpuMetrics("P1", "commit")],
      run: async () => {
        await using client = target.client();
        return await loop(target, plan.commitMs, async (w, seq) => {
          await client.transact([{ agentId: `p1-${w}`, key: `k${seq % KEYS_PER_CLIENT}`, value: benchValue(seq) }]);
        });
      },
    }),
  );
  const p5 = targets.map(
    (target): Measure => ({
      id: `p5.${target.label === "plain" ? "plain" : "secure"}`,
      cell,
      subject: `Statehouse · TS SDK getState() · ${target.label}`,
      system: "statehouse",
      metrics: [opsPerSecMetric("P5", "point reads/s"), ...cpuMetrics("P5", "read")],
      run: async () => {
        await using client = target.client();
        return await loop(target, plan.shortMs, async () => {
          const key = `r${Math.floor(Math.random() * READ_KEYS)}`;
          if (!(await client.getState(READ_AGENT, key)).exists) throw new Error(`point read of ${key} found nothing`);
        });
      },
    }),
  );
  return [
    { id: "p1", title: `P1 durable commits, ${cell}: plain vs TLS + API key`, measures: p1 },
    { id: "p5", title: `P5 point reads, ${cell}: plain vs TLS + API key`, measures: p5 },
  ];
}

/** Writes the P5 read agent's keys (1 000 per transaction). */
async function loadReadKeys(client: Statehouse): Promise<void> {
  for (let start = 0; start < READ_KEYS; start += 1_000) {
    const operations = Array.from({ length: 1_000 }, (_, i) => ({ agentId: READ_AGENT, key: `r${start + i}`, value: benchValue(start + i) }));
    await client.transact(operations);
  }
}

interface RatioRow {
  figure: "P1" | "P5";
  metric: string;
  plain: number;
  secure: number;
  /** Median of the per-round ratios secure ÷ plain. */
  ratio: number;
  perRound: number[];
}

function ratioRows(results: readonly MeasureSamples[]): RatioRow[] {
  const rows: RatioRow[] = [];
  for (const figure of ["P1", "P5"] as const) {
    const prefix = figure.toLowerCase();
    const plain = results.find((r) => r.measure.id === `${prefix}.plain`);
    const secure = results.find((r) => r.measure.id === `${prefix}.secure`);
    if (plain === undefined || secure === undefined) continue;
    for (const metric of plain.measure.metrics) {
      const byRound = (s: MeasureSamples): Map<number, number> =>
        new Map(s.samples.map((sample, i) => [s.rounds?.[i] ?? i, sample[metric.key] ?? Number.NaN]));
      const p = byRound(plain);
      const q = byRound(secure);
      const perRound = [...p.keys()].filter((round) => q.has(round)).map((round) => (q.get(round) as number) / (p.get(round) as number));
      rows.push({
        figure,
        metric: `${metric.label} (${metric.unit})`,
        plain: roundSig(median([...p.values()])),
        secure: roundSig(median([...q.values()])),
        ratio: roundSig(median(perRound)),
        perRound: perRound.map((r) => roundSig(r)),
      });
    }
  }
  return rows;
}

export async function runSecurityBench(options: SecurityBenchOptions): Promise<{ markdown: string; files: string[] }> {
  const log = options.log ?? ((message: string) => console.error(`[bench] ${message}`));
  const plan = makePlan({ ...(options.quick === true ? { quick: true } : {}), ...(options.rounds === undefined ? {} : { rounds: options.rounds }) });
  const scratchParent = options.scratchDir ?? "/var/tmp";
  mkdirSync(scratchParent, { recursive: true });
  const workDir = mkdtempSync(join(scratchParent, "statehouse-bench-security-"));
  const startedAt = new Date();
  const loadAtStart = loadAverage1m();
  log(`security: ${plan.rounds} round(s), scratch dir ${workDir}`);
  const daemons: RunningDaemon[] = [];
  let results: MeasureSamples[] = [];
  try {
    const certs = makeCertificates(join(workDir, "tls"));
    const plain = await startDaemon({ dataDir: join(workDir, "plain-data"), workDir, name: "plain" });
    daemons.push(plain);
    const secureDataDir = join(workDir, "secure-data");
    const secure = await startDaemon({
      dataDir: secureDataDir,
      workDir,
      name: "secure",
      env: { STATEHOUSE_AUTH: "required", STATEHOUSE_TLS_CERT: certs.cert, STATEHOUSE_TLS_KEY: certs.key },
    });
    daemons.push(secure);
    const secureUrl = `https://${secure.address}`;
    const admin = readFileSync(join(secureDataDir, "auth", "initial-admin-key"), "utf8").trim();
    const apiKey = await createWriterKey(secureUrl, certs.ca, admin);
    const targets: Target[] = [
      { label: "plain", daemon: plain, client: () => new Statehouse({ url: plain.url, namespace: NAMESPACE }) },
      { label: "TLS + API key", daemon: secure, client: () => new Statehouse({ url: secureUrl, namespace: NAMESPACE, apiKey, ca: certs.ca }) },
    ];
    for (const target of targets) {
      await using client = target.client();
      await loadReadKeys(client);
    }
    log(`plain on ${plain.url}, secure on ${secureUrl}; ${READ_KEYS} read keys in each`);
    results = await runRounds(measuresFor(plan, targets), plan.rounds, log);
  } finally {
    for (const daemon of daemons) await daemon.stop().catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  }

  const rows = ratioRows(results);
  const errors = results.flatMap((r) => r.errors.map((e) => `${r.measure.subject}: ${e.split("\n")[0] ?? ""}`));
  const command = options.command ?? "npm run bench -- --security";
  const machine = describeMachine(scratchParent, loadAtStart);
  const report = { command, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), machine, plan: { rounds: plan.rounds, warmupMs: plan.warmupMs, commitMs: plan.commitMs, shortMs: plan.shortMs, concurrency: CONCURRENCY }, rows, errors, samples: results.map((r) => ({ id: r.measure.id, subject: r.measure.subject, rounds: r.rounds, samples: r.samples })) };
  const lines = [
    "# Statehouse: TLS + API key vs plain (issue 15)",
    "",
    `\`${command}\`, ${report.startedAt}, ${plan.rounds} round(s) of ${plan.commitMs / 1000} s (P1) / ${plan.shortMs / 1000} s (P5) windows after ${plan.warmupMs / 1000} s warm-up, ${CONCURRENCY} closed-loop clients, one TS SDK client (Connect over HTTP/2) per run.`,
    "Plain: loopback development mode, no credentials. Secure: `--tls-cert/--tls-key` (EC P-256, CA made at run time) and `--auth required`, the client sending a key with write on the bench namespace. Both fsync on. The ratio is the median of the per-round ratios secure ÷ plain (aim ≥ 0.9 for the rates; for CPU, > 1 means costlier).",
    "",
    "| figure | metric | plain | TLS + API key | secure ÷ plain | per round |",
    "|---|---|---:|---:|---:|---|",
    ...rows.map((r) => `| ${r.figure} | ${r.metric} | ${r.plain} | ${r.secure} | **${r.ratio}** | ${r.perRound.join(", ")} |`),
    "",
    ...(errors.length > 0 ? ["Errors:", ...errors.map((e) => `- ${e}`), ""] : []),
    `Machine: ${JSON.stringify(machine)}`,
  ];
  const markdown = lines.join("\n");
  const files: string[] = [];
  if (options.outDir !== null) {
    mkdirSync(options.outDir, { recursive: true });
    const name = options.quick === true ? "security-quick" : "security";
    for (const [file, text] of [[`${name}.json`, `${JSON.stringify(report, null, 2)}\n`], [`${name}.md`, `${markdown}\n`]] as const) {
      writeFileSync(join(options.outDir, file), text);
      files.push(join(options.outDir, file));
    }
  }
  return { markdown, files };
}
