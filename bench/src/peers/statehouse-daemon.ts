// Our daemon, started by the shared test launcher (@statehouse/test-services:
// the process contract, port 0, the ready file) with the Node flags and the
// process environment the systemd unit starts it with.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DaemonProcess, NODE_BIN, REPO_ROOT } from "@statehouse/test-services";

export { REPO_ROOT };

/** The project's Node 24 (node_modules/.bin/node), or this process's Node when that is missing. */
export function projectNode(): string {
  return existsSync(NODE_BIN) ? NODE_BIN : process.execPath;
}

export const DAEMON_UNIT = join(REPO_ROOT, "apps", "daemon", "packaging", "statehoused.service");

/**
 * The Node flags of the unit's ExecStart and its environment other than STATEHOUSE_* settings
 * (V8 and malloc sizing: the daemon's README, "Memory"), so that the bench measures the daemon as shipped.
 */
export function unitProcessTuning(unit = readFileSync(DAEMON_UNIT, "utf8")): { nodeFlags: string[]; env: Record<string, string> } {
  const execStart = /^ExecStart=\S+\/node ((?:--\S+ )*)\S+\/apps\/daemon\/dist\/bundle\/statehoused\.js$/m.exec(unit);
  if (execStart === null) throw new Error(`${DAEMON_UNIT}: no ExecStart=.../node [flags] .../apps/daemon/dist/bundle/statehoused.js line`);
  const env: Record<string, string> = {};
  for (const [, name, value] of unit.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/gm)) {
    if (name !== undefined && value !== undefined && !name.startsWith("STATEHOUSE_")) env[name] = value;
  }
  return { nodeFlags: (execStart[1] ?? "").split(" ").filter((flag) => flag !== ""), env };
}

export interface BenchDaemonOptions {
  dataDir: string;
  /** Where the log and ready files go. */
  workDir: string;
  /** Extra STATEHOUSE_* settings (e.g. STATEHOUSE_FSYNC_ON_COMMIT). */
  env?: Record<string, string>;
  /** Log file name inside workDir (`NAME.log`). */
  name?: string;
  /** Node flags instead of the systemd unit's (the unit's environment stays). */
  nodeFlags?: readonly string[];
  /** Another daemon entry point than this checkout's build (a before/after run). */
  main?: string;
}

/** A daemon the bench started (the shared test launcher's). */
export type RunningDaemon = DaemonProcess;

/**
 * Starts the daemon with the unit's Node flags and environment, log level warn (unless `env` says
 * otherwise), its log in `workDir/NAME.log`; `startMs` is spawn to ready file to within 2 ms, and a
 * graceful `stop()` gets 30 s before SIGKILL (large data sets flush on the way out).
 */
export function startDaemon(options: BenchDaemonOptions): Promise<RunningDaemon> {
  mkdirSync(options.dataDir, { recursive: true });
  const tuning = unitProcessTuning();
  return DaemonProcess.start({
    dataDir: options.dataDir,
    workDir: options.workDir,
    logFile: `${options.name ?? "statehoused"}.log`,
    logLevel: "warn",
    nodeFlags: options.nodeFlags ?? tuning.nodeFlags,
    ...(options.main === undefined ? {} : { main: options.main }),
    env: { ...tuning.env, ...options.env },
    readyTimeoutMs: 600_000,
    readyPollMs: 2,
    stopGraceMs: 30_000,
  });
}

/** Peak and current resident set size (KiB) from /proc/PID/status. */
export function memoryOf(pid: number): { vmHwmKiB: number; vmRssKiB: number; rssAnonKiB: number; rssFileKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { vmHwmKiB: field("VmHWM"), vmRssKiB: field("VmRSS"), rssAnonKiB: field("RssAnon"), rssFileKiB: field("RssFile") };
}
