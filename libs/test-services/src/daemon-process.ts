// The real statehoused for tests, the bench and the e2e suites, started per
// the daemon's process contract: `node [flags] apps/daemon/dist/bundle/statehoused.js` with
// STATEHOUSE_LISTEN_ADDR (127.0.0.1:0 unless a port is given) and
// STATEHOUSE_READY_FILE, ready once that file (written atomically when the
// daemon serves) names this process. Every line it prints is kept (and
// appended to a log file when asked). It can be SIGKILLed, stopped and
// restarted on the same data dir and port.
//
// Two layers: `spawnDaemonRun` + `waitForReady` (one process, for suites that
// drive generations themselves: e2e) and `DaemonProcess` (a daemon across
// restarts, with its temp dirs).
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** Node 24 from the `node` npm package (the system node is too old). */
export const NODE_BIN = join(REPO_ROOT, "node_modules/.bin/node");
/** The daemon as it ships: the bundled command (`npx nx run daemon:build`; the test targets depend on it). */
export const DAEMON_MAIN = join(REPO_ROOT, "apps/daemon/dist/bundle/statehoused.js");
/** The same command as tsc emitted it, one module per file (the bundle's input). */
export const DAEMON_MODULES_MAIN = join(REPO_ROOT, "apps/daemon/dist/main.js");

/** How a daemon process ended. */
export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What the daemon writes to STATEHOUSE_READY_FILE once it serves. */
export interface DaemonReady {
  address: string;
  pid: number;
  /** The store's commit timestamp at start (uint64 as a decimal string). */
  commitTs: string;
}

/** One line the process printed. */
export interface DaemonLine {
  stream: "stdout" | "stderr";
  raw: string;
}

/**
 * The environment of every daemon: this process's, without what would leak the test runner's
 * settings into the daemon (STATEHOUSE_* knobs, NODE_OPTIONS loaders, VITEST*), except the three the
 * daemon's and e2e's test targets run their suites again with, which reach every daemon a test
 * starts (unless `env` sets them): STATEHOUSE_FAST_PATH (fast path forced off),
 * STATEHOUSE_ROCKSDB_WRITER (the RocksDB writer thread instead of the WAL syncer) and
 * STATEHOUSE_RPC_THREADS (RPC threads), the last not to a daemon with auth on (`env` or `args`),
 * which refuses more than one RPC thread. Then `env`.
 */
export function daemonEnv(env: Record<string, string> = {}, args: readonly string[] = []): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (name.startsWith("STATEHOUSE_") || name === "NODE_OPTIONS" || name.startsWith("VITEST")) continue;
    clean[name] = value;
  }
  const fastPath = process.env["STATEHOUSE_FAST_PATH"];
  if (fastPath !== undefined) clean["STATEHOUSE_FAST_PATH"] = fastPath;
  const writer = process.env["STATEHOUSE_ROCKSDB_WRITER"];
  if (writer !== undefined) clean["STATEHOUSE_ROCKSDB_WRITER"] = writer;
  const threads = process.env["STATEHOUSE_RPC_THREADS"];
  const authFlag = args.indexOf("--auth");
  const auth = env["STATEHOUSE_AUTH"] ?? (authFlag === -1 ? undefined : args[authFlag + 1]);
  if (threads !== undefined && (auth === undefined || auth === "off")) clean["STATEHOUSE_RPC_THREADS"] = threads;
  return { ...clean, ...env };
}

export interface DaemonRunOptions {
  /** The whole environment (see `daemonEnv`). */
  env: Record<string, string>;
  /** Command-line arguments of statehoused. */
  args?: readonly string[];
  /** Node flags before main.js (e.g. the systemd unit's, or --cpu-prof). */
  nodeFlags?: readonly string[];
  /** Every line is appended here too (`[stderr] ` before stderr lines). */
  logFile?: string;
  /** Another Node or daemon entry point (the e2e suites can point at another build). */
  node?: string;
  main?: string;
}

/** One statehoused process: its lines as they come, and its exit once every line is read. */
export class DaemonRun {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: DaemonLine[] = [];
  /** performance.now() at spawn. */
  readonly spawnedAt = performance.now();
  /** Resolves when the process has exited and its pipes are drained (every line is in `lines`). */
  readonly exited: Promise<DaemonExit>;
  exit: DaemonExit | undefined;

  constructor(options: DaemonRunOptions) {
    const node = options.node ?? NODE_BIN;
    const main = options.main ?? DAEMON_MAIN;
    if (!existsSync(main)) throw new Error(`${main} is missing: build the daemon first (npx nx run daemon:build)`);
    this.child = spawn(node, [...(options.nodeFlags ?? []), main, ...(options.args ?? [])], { env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    if (this.child.pid === undefined) throw new Error(`statehoused did not start (${node} ${main})`);
    this.pid = this.child.pid;
    const logFile = options.logFile;
    const closed: Promise<void>[] = [];
    for (const [input, stream] of [
      [this.child.stdout, "stdout"],
      [this.child.stderr, "stderr"],
    ] as const) {
      if (input === null) continue;
      const reader = createInterface({ input, crlfDelay: Infinity });
      reader.on("line", (raw) => {
        this.lines.push({ stream, raw });
        if (logFile !== undefined) appendFileSync(logFile, `${stream === "stderr" ? "[stderr] " : ""}${raw}\n`);
      });
      closed.push(new Promise((done) => reader.once("close", () => done())));
    }
    const exit = new Promise<DaemonExit>((done) => this.child.once("exit", (code, signal) => done({ code, signal })));
    this.exited = Promise.all([exit, ...closed]).then(([info]) => (this.exit = info));
    trackChild(this.child);
  }

  get alive(): boolean {
    return this.exit === undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything it printed so far, stdout and stderr interleaved as read. */
  get output(): string {
    return this.lines.map((line) => `${line.raw}\n`).join("");
  }

  /** The last `count` lines, for error messages. */
  tail(count = 30): string {
    return this.lines.slice(-count).map((line) => line.raw).join("\n");
  }

  /** Sends `signal` (default SIGKILL: a crash, never a graceful stop) and waits for the exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<DaemonExit> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }

  /** SIGTERM (or `signal`), SIGKILL after `graceMs`; resolves with the exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 15_000): Promise<DaemonExit> {
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.kill(signal);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Raised when a run exits before it is ready (a crash during recovery, a bad configuration, ...). */
export class DaemonExitedError extends Error {
  override readonly name = "DaemonExitedError";
  readonly exit: DaemonExit;
  readonly run: DaemonRun;
  constructor(message: string, exit: DaemonExit, run: DaemonRun) {
    super(message);
    this.exit = exit;
    this.run = run;
  }
}

/**
 * Waits until `readyFile` names `run`'s pid. Rejects with DaemonExitedError when the process exits
 * first, and SIGKILLs it and rejects after `timeoutMs`.
 */
export async function waitForReady(run: DaemonRun, readyFile: string, timeoutMs = 30_000, pollMs = 10): Promise<DaemonReady> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (!run.alive) {
      const exit = await run.exited;
      throw new DaemonExitedError(`statehoused (pid ${run.pid}) exited before it was ready (code ${exit.code}, signal ${exit.signal}):\n${run.tail()}`, exit, run);
    }
    const text = await readFile(readyFile, "utf8").catch(() => undefined);
    if (text !== undefined) {
      const ready = JSON.parse(text) as { address: string; pid: number; commitTs: string | number };
      if (ready.pid === run.pid) return { address: ready.address, pid: ready.pid, commitTs: String(ready.commitTs) };
    }
    if (performance.now() > deadline) {
      await run.kill();
      throw new Error(`statehoused (pid ${run.pid}) not ready after ${timeoutMs} ms:\n${run.tail()}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const children = new Set<ChildProcess>();
let hooked = false;
/** Every daemon is SIGKILLed when the test process exits, whatever the way it exits. */
function trackChild(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const running of children) running.kill("SIGKILL");
    });
  }
  children.add(child);
  child.once("exit", () => children.delete(child));
}

export interface DaemonOptions {
  /** STATEHOUSE_* settings (and anything else) of every run. */
  env?: Record<string, string>;
  args?: readonly string[];
  nodeFlags?: readonly string[];
  /** Another daemon entry point (e.g. another checkout's build, for a before/after bench). */
  main?: string;
  /** Reuse this data dir (it is then not removed); default `data` in the work dir. */
  dataDir?: string;
  /** Where ready files (and the log file) go; default a fresh temp dir, removed by `dispose`. */
  workDir?: string;
  /** Listen on this port (default: a free port chosen by the OS, kept for restarts). */
  port?: number;
  /** The daemon serves TLS (its env has STATEHOUSE_TLS_CERT/KEY): `url` is `https://`. */
  tls?: boolean;
  /** STATEHOUSE_LOG_LEVEL unless `env` sets it (default "info"). */
  logLevel?: string;
  /** Append every line to this file (relative names are inside the work dir). */
  logFile?: string;
  readyTimeoutMs?: number;
  /** How often to look for the ready file (default 10 ms; `startMs` is as exact as this). */
  readyPollMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL (default 15 s). */
  stopGraceMs?: number;
}

/** A statehoused with a fixed address once started, across kills and restarts. */
export class DaemonProcess {
  readonly dataDir: string;
  readonly workDir: string;
  readonly runs: DaemonRun[] = [];
  /** Milliseconds from the last spawn to its ready file (restart-to-serving). */
  startMs = Number.NaN;
  readonly #options: DaemonOptions;
  readonly #ownsWorkDir: boolean;
  #env: Record<string, string>;
  #address: string | undefined;

  private constructor(workDir: string, ownsWorkDir: boolean, options: DaemonOptions) {
    this.workDir = workDir;
    this.#ownsWorkDir = ownsWorkDir;
    this.dataDir = options.dataDir ?? join(workDir, "data");
    this.#options = options;
    this.#env = options.env ?? {};
  }

  /** Starts a daemon and waits until it serves. */
  static async start(options: DaemonOptions = {}): Promise<DaemonProcess> {
    const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), "statehoused-test-")));
    const daemon = new DaemonProcess(workDir, options.workDir === undefined, options);
    try {
      await daemon.#run(options.port ?? 0);
    } catch (error) {
      await daemon.dispose();
      throw error;
    }
    return daemon;
  }

  /** `127.0.0.1:PORT` */
  get address(): string {
    if (this.#address === undefined) throw new Error("daemon not started");
    return this.#address;
  }

  /** `http://127.0.0.1:PORT` (`https://` with `tls`) */
  get url(): string {
    return `${this.#options.tls === true ? "https" : "http"}://${this.address}`;
  }

  get current(): DaemonRun {
    const run = this.runs.at(-1);
    if (run === undefined) throw new Error("daemon not started");
    return run;
  }

  /** The current (or last) process's pid. */
  get pid(): number {
    return this.current.pid;
  }

  get running(): boolean {
    return this.runs.at(-1)?.alive === true;
  }

  get child(): ChildProcess {
    return this.current.child;
  }

  /** Resolves when the current process exits (also when it kills itself at a failpoint). */
  get exited(): Promise<DaemonExit> {
    return this.current.exited;
  }

  /** Everything every run printed so far. */
  get output(): string {
    return this.runs.map((run) => run.output).join("");
  }

  /** The JSON log lines of every run, parsed. */
  logs(): Record<string, unknown>[] {
    return this.runs.flatMap((run) => run.lines.filter((line) => line.raw.startsWith("{")).map((line) => JSON.parse(line.raw) as Record<string, unknown>));
  }

  async #run(port: number): Promise<void> {
    const generation = this.runs.length + 1;
    const readyFile = join(this.workDir, `ready-${generation}-${process.pid}-${Date.now()}.json`);
    const logFile = this.#options.logFile;
    const run = new DaemonRun({
      env: daemonEnv(
        {
          STATEHOUSE_LISTEN_ADDR: `127.0.0.1:${port}`,
          STATEHOUSE_DATA_DIR: this.dataDir,
          STATEHOUSE_READY_FILE: readyFile,
          STATEHOUSE_LOG_LEVEL: this.#options.logLevel ?? "info",
          ...this.#env,
        },
        this.#options.args,
      ),
      ...(this.#options.args === undefined ? {} : { args: this.#options.args }),
      ...(this.#options.nodeFlags === undefined ? {} : { nodeFlags: this.#options.nodeFlags }),
      ...(this.#options.main === undefined ? {} : { main: this.#options.main }),
      ...(logFile === undefined ? {} : { logFile: resolve(this.workDir, logFile) }),
    });
    this.runs.push(run);
    const ready = await waitForReady(run, readyFile, this.#options.readyTimeoutMs ?? 30_000, this.#options.readyPollMs ?? 10);
    this.startMs = performance.now() - run.spawnedAt;
    this.#address = ready.address;
  }

  /** Sends `signal` (default SIGKILL: a crash, not a graceful stop) to the current process and waits for its exit. */
  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<DaemonExit> {
    return this.current.kill(signal);
  }

  /** Graceful stop: SIGTERM (or `signal`), escalating to SIGKILL after `graceMs`. */
  stop(signal: NodeJS.Signals = "SIGTERM", graceMs = this.#options.stopGraceMs ?? 15_000): Promise<DaemonExit> {
    return this.current.stop(signal, graceMs);
  }

  /**
   * Starts the daemon again on the same address and data dir (after a kill or stop), optionally
   * with another environment (e.g. without a failpoint). A port the killed process still holds for
   * a moment (EADDRINUSE) is retried.
   */
  async restart(env?: Record<string, string>): Promise<void> {
    if (this.running) throw new Error("daemon still running");
    if (env !== undefined) this.#env = env;
    const port = Number(this.address.slice(this.address.lastIndexOf(":") + 1));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#run(port);
        return;
      } catch (error) {
        const inUse = error instanceof DaemonExitedError && error.run.lines.some((line) => line.raw.includes("EADDRINUSE"));
        if (!inUse || attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * Stops the process (SIGTERM; SIGKILL when it has not exited within 2 s: a test's teardown, not a
   * shutdown test) and removes the temp dir it made.
   */
  async dispose(): Promise<void> {
    await Promise.all(this.runs.map((run) => run.stop("SIGTERM", 2_000)));
    if (this.#ownsWorkDir) await rm(this.workDir, { recursive: true, force: true });
  }
}

/** Spawns statehoused without waiting for readiness (startup-failure tests). */
export function spawnDaemon(env: Record<string, string>, args: readonly string[] = []): DaemonRun {
  return new DaemonRun({ env: daemonEnv(env, args), args });
}

/** Runs statehoused until it exits by itself (it must not start serving). */
export async function runDaemonToExit(env: Record<string, string>, args: readonly string[] = []): Promise<DaemonExit & { output: string }> {
  const run = spawnDaemon(env, args);
  return { ...(await run.exited), output: run.output };
}
