// The whole bench: install and start the peers, start our daemon, run every
// selected group in alternating rounds, stop everything, and write the report.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchEnv } from "./bench-env.js";
import { makePlan, type PlanOptions } from "./bench-plan.js";
import { buildReport, reportToMarkdown, type BenchReport } from "./bench-report.js";
import { PostgresBenchClient } from "./clients/postgres-bench-client.js";
import { describeMachine, loadAverage1m } from "./machine-info.js";
import type { Figure, MeasureGroup } from "./measure.js";
import { p1ChartSvg } from "./p1-chart.js";
import { ensureEtcdInstalled, startEtcd, type EtcdServer } from "./peers/etcd-server.js";
import { ensurePostgresInstalled, startPostgres, type PostgresServer } from "./peers/postgres-server.js";
import { REPO_ROOT, startDaemon, type RunningDaemon } from "./peers/statehouse-daemon.js";
import { pythonUnavailable, VENV_PYTHON } from "./python-worker.js";
import { profileDaemon } from "./profile/daemon-profile.js";
import type { ProfileSummary } from "./profile/cpu-profile-summary.js";
import { runRounds } from "./run-rounds.js";
import { commitGroups } from "./workloads/commit-workloads.js";
import { fastPathGroups, nodeFlagGroups, rpcThreadGroups } from "./workloads/daemon-variants.js";
import { engineGroups } from "./workloads/engine-workloads.js";
import { langgraphGroups } from "./workloads/langgraph-workloads.js";
import { noopGroups } from "./workloads/noop-workloads.js";
import { protocolGroups } from "./workloads/protocol-workloads.js";
import { readGroup } from "./workloads/read-workloads.js";
import { replayGroup } from "./workloads/replay-workloads.js";
import { restartGroup } from "./workloads/restart-workloads.js";

export interface RunBenchOptions extends PlanOptions {
  /** Where JSON, Markdown and SVG go; null = do not write files. */
  outDir: string | null;
  /** Parent of the scratch dir (must be a real disk, not tmpfs). Default /var/tmp. */
  scratchDir?: string;
  /** Keep the scratch dir (data dirs and peer logs) for inspection. */
  keep?: boolean;
  /** Keep the P4/P6 data sets here and reuse them in later runs (the 10M load is most of a --scale run). */
  datasetsDir?: string;
  command?: string;
  log?: (message: string) => void;
}

export interface RunBenchResult {
  report: BenchReport;
  markdown: string;
  files: string[];
}

function versionOf(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT }).trim();
  } catch {
    return "unknown";
  }
}

export async function runBench(options: RunBenchOptions): Promise<RunBenchResult> {
  const log = options.log ?? ((message: string) => console.error(`[bench] ${message}`));
  const plan = makePlan(options);
  const startedAt = new Date();
  const loadAtStart = loadAverage1m();
  const scratchParent = options.scratchDir ?? "/var/tmp";
  mkdirSync(scratchParent, { recursive: true });
  const wants = (...figures: Figure[]): boolean => figures.some((f) => plan.figures.has(f));
  const workDir = mkdtempSync(join(scratchParent, "statehouse-bench-"));
  log(`mode ${plan.mode}, ${plan.rounds} round(s), scratch dir ${workDir}`);

  const versions: Record<string, string> = {
    statehouse: `${versionOf("git", ["rev-parse", "--short", "HEAD"])}${versionOf("git", ["status", "--porcelain", "--", "libs", "apps"]) === "" ? "" : " (+ local changes)"}`,
    node: process.version,
  };
  const skipped: string[] = [];
  const notes: string[] = [];
  let etcd: EtcdServer | null = null;
  let postgres: PostgresServer | null = null;
  let daemon: RunningDaemon | null = null;
  let results: Awaited<ReturnType<typeof runRounds>> = [];
  let profiles: ProfileSummary[] = [];
  try {
    if (plan.peers && wants("P1", "P2", "P3", "P5", "LG", "context")) {
      // LG compares with PostgreSQL only.
      const withEtcd = wants("P1", "P2", "P3", "P5", "context");
      if (withEtcd) ensureEtcdInstalled(log);
      ensurePostgresInstalled(log);
      if (withEtcd) {
        etcd = await startEtcd(workDir);
        versions["etcd"] = etcd.version;
        log(`etcd ${etcd.version} on ${etcd.address}`);
      }
      postgres = await startPostgres(workDir);
      versions["PostgreSQL"] = `${postgres.version} (fsync=on, synchronous_commit=on)`;
      const admin = await PostgresBenchClient.connect(postgres);
      await admin.createSchema();
      await admin.close();
      log(`PostgreSQL ${postgres.version} on 127.0.0.1:${postgres.port}`);
    } else if (!plan.peers) {
      skipped.push(`etcd and PostgreSQL (${plan.mode} mode runs against Statehouse only)`);
    }
    daemon = await startDaemon({ dataDir: join(workDir, "statehouse-data"), workDir });
    log(`statehoused on ${daemon.url} (started in ${daemon.startMs.toFixed(0)} ms)`);
    // `npm run bench` creates the .venv and nx generates the stubs (python-sdk:generate) before this runs.
    const pythonSkip = pythonUnavailable();
    if (pythonSkip === null) versions["python"] = versionOf(VENV_PYTHON, ["--version"]);
    else skipped.push(`Python rows: ${pythonSkip}`);

    const datasetsDir = options.datasetsDir ?? null;
    const env: BenchEnv = { plan, workDir, datasetsDir, daemon, etcd, postgres, pythonSkip, log, notes };
    const groups: MeasureGroup[] = [];
    if (plan.mode === "scale") {
      // P1, P4 and P6 on the data sets: all in the restart group.
      groups.push(restartGroup(env));
    } else {
      if (wants("context")) groups.push(...noopGroups(env));
      if (wants("P1", "P2")) groups.push(...commitGroups(env));
      if (wants("P3")) groups.push(replayGroup(env));
      if (wants("P5")) groups.push(readGroup(env));
      if (wants("LG")) groups.push(...langgraphGroups(env));
      if (wants("P4", "P6")) groups.push(restartGroup(env));
      // The daemon's and the engine's own figures (only with --only).
      if (wants("protocols")) groups.push(...protocolGroups(env));
      if (wants("fastpath")) groups.push(...fastPathGroups(env));
      if (wants("flags")) groups.push(...nodeFlagGroups(env));
      if (wants("threads")) groups.push(...rpcThreadGroups(env));
      if (wants("engine")) groups.push(...engineGroups(env));
    }
    results = await runRounds(groups, plan.rounds, log);
    if (plan.profile) profiles = await profileDaemon(env, wants("P3", "P5"), wants("LG"));
  } finally {
    await daemon?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    if (options.keep === true) log(`kept ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }

  const report = buildReport({
    plan,
    command: options.command ?? "npm run bench",
    startedAt,
    finishedAt: new Date(),
    machine: describeMachine(scratchParent, loadAtStart),
    versions,
    results,
    skipped,
    notes,
    profiles,
  });
  const files: string[] = [];
  // The chart is P1 across concurrency; the scale mode has P1 at 64 clients only.
  const chartName = plan.mode === "scale" ? undefined : `${plan.mode}-p1.svg`;
  const markdown = reportToMarkdown(report, chartName);
  if (options.outDir !== null) {
    mkdirSync(options.outDir, { recursive: true });
    const write = (name: string, text: string): void => {
      const file = join(options.outDir as string, name);
      writeFileSync(file, text);
      files.push(file);
    };
    write(`${plan.mode}.json`, `${JSON.stringify(report, null, 2)}\n`);
    write(`${plan.mode}.md`, `${markdown}\n`);
    if (chartName !== undefined) write(chartName, p1ChartSvg(report));
  }
  return { report, markdown, files };
}
