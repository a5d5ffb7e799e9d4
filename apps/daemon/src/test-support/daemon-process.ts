// Test helper: runs the real statehoused (dist/main.js, built by the `build`
// target the `test` target depends on) on 127.0.0.1:0 with a temp data dir and
// waits for its STATEHOUSE_READY_FILE. Not part of the build.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const NODE_BIN = join(REPO_ROOT, "node_modules/.bin/node");
export const DAEMON_MAIN = join(REPO_ROOT, "apps/daemon/dist/main.js");

const READY_TIMEOUT_MS = 30_000;

export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** Extra STATEHOUSE_* environment. STATEHOUSE_USE_MEMORY defaults to 0 (RocksDB in the temp dir). */
  env?: Record<string, string>;
  args?: string[];
  /** Reuse a data dir (restart tests); default a fresh temp dir. */
  dataDir?: string;
}

export class DaemonProcess {
  readonly dataDir: string;
  readonly workDir: string;
  readonly address: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<DaemonExit>;
  readonly #output: string[];

  private constructor(init: { dataDir: string; workDir: string; address: string; pid: number; child: ChildProcess; exited: Promise<DaemonExit>; output: string[] }) {
    this.dataDir = init.dataDir;
    this.workDir = init.workDir;
    this.address = init.address;
    this.pid = init.pid;
    this.child = init.child;
    this.exited = init.exited;
    this.#output = init.output;
  }

  get url(): string {
    return `http://${this.address}`;
  }

  /** Everything the process wrote to stdout and stderr so far. */
  get output(): string {
    return this.#output.join("");
  }

  /** Parsed JSON log lines. */
  logs(): Record<string, unknown>[] {
    return this.output
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  static async start(options: StartOptions = {}): Promise<DaemonProcess> {
    const workDir = await mkdtemp(join(tmpdir(), "statehoused-test-"));
    const dataDir = options.dataDir ?? join(workDir, "data");
    const readyFile = join(workDir, "ready.json");
    const { child, exited, output } = spawnDaemon(
      {
        STATEHOUSE_LISTEN_ADDR: "127.0.0.1:0",
        STATEHOUSE_DATA_DIR: dataDir,
        STATEHOUSE_READY_FILE: readyFile,
        STATEHOUSE_LOG_LEVEL: "info",
        ...options.env,
      },
      options.args ?? [],
    );
    let exit: DaemonExit | null = null;
    void exited.then((e) => (exit = e));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exit !== null) {
        await rm(workDir, { recursive: true, force: true });
        throw new Error(`statehoused exited (${JSON.stringify(exit)}) before it was ready:\n${output.join("")}`);
      }
      const ready = await readFile(readyFile, "utf8").catch(() => null);
      if (ready !== null) {
        const info = JSON.parse(ready) as { address: string; pid: number };
        return new DaemonProcess({ dataDir, workDir, address: info.address, pid: info.pid, child, exited, output });
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    throw new Error(`statehoused not ready after ${READY_TIMEOUT_MS} ms:\n${output.join("")}`);
  }

  /** Sends a signal and waits for the process to exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<DaemonExit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** Stops (SIGKILL if still running) and removes the temp dir unless the data dir was given. */
  async dispose(): Promise<void> {
    await this.stop("SIGKILL");
    await rm(this.workDir, { recursive: true, force: true });
  }
}

/**
 * STATEHOUSE_FAST_PATH and STATEHOUSE_RPC_THREADS of the test run reach every daemon a test starts
 * (unless the test sets them): the daemon's test target runs the whole suite with the fast path on,
 * with it off, and with RPC threads. More than one RPC thread needs --auth off, so a daemon the
 * test starts with --auth optional/required keeps one.
 */
function inheritedEnv(env: Record<string, string>, args: readonly string[]): Record<string, string> {
  const inherited: Record<string, string> = {};
  const fastPath = process.env["STATEHOUSE_FAST_PATH"];
  if (fastPath !== undefined) inherited["STATEHOUSE_FAST_PATH"] = fastPath;
  const threads = process.env["STATEHOUSE_RPC_THREADS"];
  const authFlag = args.indexOf("--auth");
  const auth = env["STATEHOUSE_AUTH"] ?? (authFlag === -1 ? undefined : args[authFlag + 1]);
  if (threads !== undefined && (auth === undefined || auth === "off")) inherited["STATEHOUSE_RPC_THREADS"] = threads;
  return inherited;
}

/** Spawns statehoused without waiting for readiness (startup-failure tests). */
export function spawnDaemon(env: Record<string, string>, args: string[] = []): { child: ChildProcess; exited: Promise<DaemonExit>; output: string[] } {
  const child = spawn(NODE_BIN, [DAEMON_MAIN, ...args], {
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...inheritedEnv(env, args), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk));
  const exited = new Promise<DaemonExit>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  return { child, exited, output };
}

/** Runs statehoused until it exits by itself (it must not start serving). */
export async function runDaemonToExit(env: Record<string, string>, args: string[] = []): Promise<DaemonExit & { output: string }> {
  const { exited, output } = spawnDaemon(env, args);
  const exit = await exited;
  return { ...exit, output: output.join("") };
}
