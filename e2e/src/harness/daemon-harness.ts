// The only owner of the daemon's life in the e2e suites: starts the real
// statehoused process on a free port with its own data dir, waits until it is
// ready (STATEHOUSE_READY_FILE), SIGKILLs it (never a graceful stop),
// restarts it on the same data dir and port, and keeps every log line. Each
// process is the shared test launcher's (@statehouse/test-services); this
// adds the generations, failpoints, parsed log lines and recovery facts.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { daemonEnv, DaemonExitedError as LaunchExitedError, DaemonRun as DaemonProcessRun, waitForReady } from "@statehouse/test-services";
import { logTail, parseLogLine, recoveryFromLogs, type LogLine, type RecoveryFacts } from "./log-lines.js";
import { daemonMain, keepTempDirs, nodeBin } from "./paths.js";

/** What the daemon writes to STATEHOUSE_READY_FILE once it serves. */
export interface ReadyInfo {
  address: string;
  pid: number;
  commitTs: bigint;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DaemonRunOptions {
  /** STATEHOUSE_FAILPOINT for this run only, e.g. "commit:before-sync@2". */
  failpoint?: string;
  /** Extra environment for this run only. */
  env?: Record<string, string>;
}

export interface DaemonHarnessOptions {
  /** Environment for every run (STATEHOUSE_SNAPSHOT_INTERVAL, STATEHOUSE_CORS_ORIGINS, ...). */
  env?: Record<string, string>;
  /** Use this data dir instead of a fresh temp dir (it is then not removed). */
  dataDir?: string;
  /** Listen on this port from the first run on (default: a free port chosen by the OS, kept for restarts). */
  port?: number;
  /** How long a start may take before it counts as hung. */
  readyTimeoutMs?: number;
  /** Label used in temp dir names and messages. */
  name?: string;
}

/** Raised when a run exits before it became ready (a crash during recovery, a bad config...). */
export class DaemonExitedError extends Error {
  override readonly name = "DaemonExitedError";
  constructor(
    message: string,
    readonly exit: ExitInfo,
    readonly run: DaemonRun,
  ) {
    super(message);
  }
}

const monotonicNs = (): bigint => process.hrtime.bigint();

/** One daemon process (one "generation" of the data dir). */
export class DaemonRun {
  /** Monotonic ns at spawn. */
  readonly spawnedAtNs: bigint = monotonicNs();
  /** Monotonic ns when the ready file appeared. */
  readyAtNs: bigint | undefined;
  readyInfo: ReadyInfo | undefined;
  exitInfo: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  readonly pid: number;
  readonly process: DaemonProcessRun;
  readonly #logs: LogLine[] = [];

  constructor(
    readonly generation: number,
    process: DaemonProcessRun,
    readonly failpoint: string | undefined,
  ) {
    this.process = process;
    this.pid = process.pid;
    // Resolves once the pipes are drained, so every line the process wrote is in `logs`.
    this.exited = process.exited.then((info) => {
      this.exitInfo = info;
      return info;
    });
  }

  /** Every line so far, parsed (JSON log lines and plain text). */
  get logs(): readonly LogLine[] {
    const lines = this.process.lines;
    for (let i = this.#logs.length; i < lines.length; i++) {
      const line = lines[i];
      if (line !== undefined) this.#logs.push(parseLogLine(line.raw, line.stream));
    }
    return this.#logs;
  }

  get alive(): boolean {
    return this.process.alive;
  }

  /** Recovery facts from this run's log (snapshot loaded, events replayed, commit_ts). */
  recovery(): RecoveryFacts {
    return recoveryFromLogs(this.logs);
  }

  /** Milliseconds from spawn to ready (process start + recovery + listen). */
  get recoveryMs(): number | undefined {
    return this.readyAtNs === undefined ? undefined : Number(this.readyAtNs - this.spawnedAtNs) / 1e6;
  }

  /** Waits for a log line matching `predicate` (polling); rejects after `timeoutMs` or when the run exits. */
  async waitForLog(predicate: (line: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (let seen = 0; ; ) {
      const logs = this.logs;
      for (; seen < logs.length; seen++) {
        const line = logs[seen];
        if (line !== undefined && predicate(line)) return line;
      }
      if (!this.alive) throw new Error(`${this.describe()} exited without logging ${what}\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.describe()} did not log ${what} within ${timeoutMs} ms\n${this.tail()}`);
      await sleep(20);
    }
  }

  /** SIGKILL, then wait until the process is gone. */
  async kill(): Promise<ExitInfo> {
    await this.process.kill("SIGKILL");
    return this.exited;
  }

  describe(): string {
    return `statehoused generation ${this.generation} (pid ${this.pid}${this.failpoint ? `, failpoint ${this.failpoint}` : ""})`;
  }

  tail(count = 20): string {
    return logTail(this.logs, count);
  }
}

export class DaemonHarness {
  readonly runs: DaemonRun[] = [];
  private portValue: number | undefined;
  private disposed = false;
  private kept = false;

  private constructor(
    readonly workDir: string,
    readonly dataDir: string,
    private readonly ownsWorkDir: boolean,
    private readonly options: DaemonHarnessOptions,
  ) {
    this.portValue = options.port;
  }

  static async create(options: DaemonHarnessOptions = {}): Promise<DaemonHarness> {
    const workDir = await mkdtemp(join(tmpdir(), `statehouse-e2e-${options.name ?? "daemon"}-`));
    const dataDir = options.dataDir ?? join(workDir, "data");
    await mkdir(dataDir, { recursive: true });
    return new DaemonHarness(workDir, dataDir, true, options);
  }

  /** The port every run listens on (known after the first run is ready). */
  get port(): number {
    if (this.portValue === undefined) throw new Error("the daemon has not been started yet");
    return this.portValue;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The URL clients use (one port for gRPC, gRPC-Web and Connect). */
  get url(): string {
    return `http://${this.address}`;
  }

  get current(): DaemonRun | undefined {
    return this.runs.at(-1);
  }

  private readyFile(generation: number): string {
    return join(this.workDir, `ready-${generation}.json`);
  }

  /** Spawns one run without waiting for it to be ready. */
  spawn(options: DaemonRunOptions = {}): DaemonRun {
    if (this.disposed) throw new Error("harness disposed");
    const previous = this.current;
    if (previous?.alive) throw new Error(`${previous.describe()} is still running; kill it first`);
    const generation = this.runs.length + 1;
    // daemonEnv passes STATEHOUSE_RPC_THREADS of the test run on (the e2e target runs the crash
    // suites once more with RPC threads), except to a daemon with auth on.
    const env = daemonEnv({
      STATEHOUSE_LISTEN_ADDR: `127.0.0.1:${this.portValue ?? 0}`,
      STATEHOUSE_DATA_DIR: this.dataDir,
      STATEHOUSE_READY_FILE: this.readyFile(generation),
      STATEHOUSE_FSYNC_ON_COMMIT: "1",
      STATEHOUSE_LOG_LEVEL: "info",
      ...this.options.env,
      ...options.env,
      ...(options.failpoint === undefined ? {} : { STATEHOUSE_FAILPOINT: options.failpoint }),
    });
    const process = new DaemonProcessRun({ env, node: nodeBin, main: daemonMain, logFile: join(this.workDir, `daemon-${generation}.log`) });
    const run = new DaemonRun(generation, process, options.failpoint);
    this.runs.push(run);
    return run;
  }

  /**
   * Waits until `run` has written its ready file; rejects with
   * DaemonExitedError when the process exits first.
   */
  async waitReady(run: DaemonRun): Promise<ReadyInfo> {
    let ready;
    try {
      ready = await waitForReady(run.process, this.readyFile(run.generation), this.options.readyTimeoutMs ?? 30_000);
    } catch (error) {
      if (!(error instanceof LaunchExitedError)) throw new Error(`${run.describe()}: ${error instanceof Error ? error.message : String(error)}`);
      const exit = await run.exited;
      throw new DaemonExitedError(`${run.describe()} exited before it was ready (code ${exit.code}, signal ${exit.signal})\n${run.tail()}`, exit, run);
    }
    run.readyAtNs = monotonicNs();
    const info: ReadyInfo = { address: ready.address, pid: ready.pid, commitTs: BigInt(ready.commitTs) };
    const port = Number(info.address.slice(info.address.lastIndexOf(":") + 1));
    if (!Number.isInteger(port) || port <= 0) throw new Error(`ready file has no port: ${info.address}`);
    if (this.portValue !== undefined && port !== this.portValue) {
      throw new Error(`daemon listens on ${info.address}, expected port ${this.portValue}`);
    }
    this.portValue = port;
    run.readyInfo = info;
    return info;
  }

  /**
   * Starts a run and waits until it serves. A restart whose port is still
   * held for a moment (EADDRINUSE) is retried a few times.
   */
  async start(options: DaemonRunOptions = {}): Promise<DaemonRun> {
    for (let attempt = 0; ; attempt++) {
      const run = this.spawn(options);
      try {
        await this.waitReady(run);
        return run;
      } catch (error) {
        if (!(error instanceof DaemonExitedError) || attempt >= 20) throw error;
        // The port of the killed run is still held for a moment.
        const addressInUse = run.logs.some((line) => line.raw.includes("EADDRINUSE"));
        // A build of the daemon or its packages is rewriting dist/ right now (a shared work
        // tree; never in CI): wait for it to finish rather than fail the campaign.
        const rebuilding = run.logs.some((line) => line.raw.includes("ERR_MODULE_NOT_FOUND"));
        if (!addressInUse && !rebuilding) throw error;
        await sleep(rebuilding ? 3_000 : 100);
      }
    }
  }

  /** SIGKILLs the current run (never a graceful stop) and waits for it to be gone. */
  async kill(): Promise<ExitInfo> {
    const run = this.current;
    if (run === undefined) throw new Error("nothing to kill");
    return run.kill();
  }

  /**
   * Waits for the current run to exit by itself (a failpoint fired). Rejects
   * when it is still alive after `timeoutMs` (the failpoint was never hit).
   */
  async waitForExit(timeoutMs = 20_000): Promise<ExitInfo> {
    const run = this.current;
    if (run === undefined) throw new Error("no daemon run");
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${run.describe()} did not exit within ${timeoutMs} ms (failpoint never hit?)\n${run.tail()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([run.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL (if still alive), then start again on the same data dir and port. */
  async restart(options: DaemonRunOptions = {}): Promise<DaemonRun> {
    if (this.current?.alive) await this.kill();
    return this.start(options);
  }

  /** Keeps the temp dir (data dir, every run's log) after dispose, for a post-mortem. */
  keepForPostMortem(): string {
    this.kept = true;
    return this.workDir;
  }

  /** Kills every run and removes the temp dir (unless kept, or STATEHOUSE_E2E_KEEP=1). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.runs.map((run) => run.kill()));
    if (this.ownsWorkDir && !keepTempDirs && !this.kept) await rm(this.workDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
