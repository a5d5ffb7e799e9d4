// Our daemon, started per the process contract: `node apps/daemon/dist/main.js`
// with STATEHOUSE_LISTEN_ADDR=127.0.0.1:0 and STATEHOUSE_READY_FILE, waiting
// for the ready file (written atomically once the daemon serves), with the Node
// flags and the process environment the systemd unit starts it with.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ManagedProcess, waitFor } from "./managed-process.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const DAEMON_MAIN = join(REPO_ROOT, "apps", "daemon", "dist", "main.js");

/** The project's Node 24 (node_modules/.bin/node), or this process's Node when that is missing. */
export function projectNode(): string {
  const bin = join(REPO_ROOT, "node_modules", ".bin", "node");
  return existsSync(bin) ? bin : process.execPath;
}

export const DAEMON_UNIT = join(REPO_ROOT, "apps", "daemon", "packaging", "statehoused.service");

/**
 * The Node flags of the unit's ExecStart and its environment other than STATEHOUSE_* settings
 * (V8 and malloc sizing: the daemon's README, "Memory"), so that the bench measures the daemon as shipped.
 */
export function unitProcessTuning(unit = readFileSync(DAEMON_UNIT, "utf8")): { nodeFlags: string[]; env: Record<string, string> } {
  const execStart = /^ExecStart=\S+\/node ((?:--\S+ )*)\S+\/apps\/daemon\/dist\/main\.js$/m.exec(unit);
  if (execStart === null) throw new Error(`${DAEMON_UNIT}: no ExecStart=.../node [flags] .../apps/daemon/dist/main.js line`);
  const env: Record<string, string> = {};
  for (const [, name, value] of unit.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/gm)) {
    if (name !== undefined && value !== undefined && !name.startsWith("STATEHOUSE_")) env[name] = value;
  }
  return { nodeFlags: (execStart[1] ?? "").split(" ").filter((flag) => flag !== ""), env };
}

export interface DaemonOptions {
  dataDir: string;
  /** Where the log and ready file go. */
  workDir: string;
  /** Extra STATEHOUSE_* settings (e.g. STATEHOUSE_FSYNC_ON_COMMIT). */
  env?: Record<string, string>;
  /** Log file name inside workDir. */
  name?: string;
  /** Node flags instead of the systemd unit's (the unit's environment stays). */
  nodeFlags?: readonly string[];
}

export interface RunningDaemon {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  address: string;
  pid: number;
  process: ManagedProcess;
  /** Milliseconds from spawn to the ready file (restart-to-serving). */
  startMs: number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

interface ReadyFile {
  address: string;
  pid: number;
  commitTs: string;
}

export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  if (!existsSync(DAEMON_MAIN)) {
    throw new Error(`${DAEMON_MAIN} is missing: build the daemon first (npx nx run daemon:build)`);
  }
  mkdirSync(options.dataDir, { recursive: true });
  const name = options.name ?? "statehoused";
  const readyFile = join(options.workDir, `${name}.ready.json`);
  rmSync(readyFile, { force: true });
  const tuning = unitProcessTuning();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    HOME: process.env["HOME"] ?? options.workDir,
    STATEHOUSE_LISTEN_ADDR: "127.0.0.1:0",
    STATEHOUSE_DATA_DIR: options.dataDir,
    STATEHOUSE_READY_FILE: readyFile,
    STATEHOUSE_LOG_LEVEL: "warn",
    ...tuning.env,
    ...options.env,
  };
  const child = new ManagedProcess({
    command: projectNode(),
    args: [...(options.nodeFlags ?? tuning.nodeFlags), DAEMON_MAIN],
    env,
    logFile: join(options.workDir, `${name}.log`),
  });
  const ready = await waitFor<ReadyFile>("statehoused", child, () => {
    if (!existsSync(readyFile)) return undefined;
    return JSON.parse(readFileSync(readyFile, "utf8")) as ReadyFile;
  }, 600_000, 2);
  const startMs = performance.now() - child.startedAt;
  return {
    url: `http://${ready.address}`,
    address: ready.address,
    pid: child.pid,
    process: child,
    startMs,
    stop: (signal: NodeJS.Signals = "SIGTERM") => child.stop(signal, 30_000),
  };
}

/** Peak and current resident set size (KiB) from /proc/PID/status. */
export function memoryOf(pid: number): { vmHwmKiB: number; vmRssKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { vmHwmKiB: field("VmHWM"), vmRssKiB: field("VmRSS") };
}
