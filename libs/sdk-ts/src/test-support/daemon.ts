// Test helper: runs the real statehoused process (apps/daemon/dist/main.js)
// per the daemon process contract: port 0, a temp data dir, readiness through
// STATEHOUSE_READY_FILE. Not part of the package build.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
/** Node 24 from the `node` npm package (the system node is too old). */
export const NODE_BIN = join(repoRoot, "node_modules/.bin/node");
/** The built daemon entry point (`nx run daemon:build`). */
export const DAEMON_MAIN = join(repoRoot, "apps/daemon/dist/main.js");

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export interface DaemonOptions {
  /** Extra environment (STATEHOUSE_CORS_ORIGINS, STATEHOUSE_FAILPOINT, ...). */
  env?: Record<string, string>;
  /** Data dir to use (default: a fresh temp dir, removed by `dispose`). */
  dataDir?: string;
  /** The daemon serves TLS (its env has STATEHOUSE_TLS_CERT/KEY): `url` is `https://`. */
  tls?: boolean;
}

interface ReadyInfo {
  address: string;
  pid: number;
  commitTs: string;
}

/** How a daemon process ended. */
export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running (or stopped) daemon process with a fixed address once started. */
export class DaemonProcess {
  readonly dataDir: string;
  readonly #workDir: string;
  readonly #ownsDataDir: boolean;
  readonly #scheme: "http" | "https";
  #env: Record<string, string>;
  #child: ChildProcess | undefined;
  #exited: Promise<DaemonExit> = Promise.resolve({ code: 0, signal: null });
  #address: string | undefined;
  #output: string[] = [];

  private constructor(workDir: string, dataDir: string, ownsDataDir: boolean, env: Record<string, string>, tls: boolean) {
    this.#workDir = workDir;
    this.#scheme = tls ? "https" : "http";
    this.dataDir = dataDir;
    this.#ownsDataDir = ownsDataDir;
    this.#env = env;
  }

  /** Starts a daemon on 127.0.0.1 with a free port and waits until it serves. */
  static async start(options: DaemonOptions = {}): Promise<DaemonProcess> {
    const workDir = await mkdtemp(join(tmpdir(), "statehouse-sdk-test-"));
    const dataDir = options.dataDir ?? join(workDir, "data");
    const daemon = new DaemonProcess(workDir, dataDir, options.dataDir === undefined, options.env ?? {}, options.tls === true);
    try {
      await daemon.#spawn("127.0.0.1:0");
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
    return `${this.#scheme}://${this.address}`;
  }

  /** PID of the current process (undefined when stopped). */
  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  /** Resolves when the current process exits (also when it kills itself at a failpoint). */
  get exited(): Promise<DaemonExit> {
    return this.#exited;
  }

  /** The last lines the daemon printed (for failure messages). */
  get output(): string {
    return this.#output.join("");
  }

  async #spawn(listenAddr: string): Promise<void> {
    const readyFile = join(this.#workDir, `ready-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
    const child = spawn(NODE_BIN, [DAEMON_MAIN], {
      env: {
        ...process.env,
        STATEHOUSE_LISTEN_ADDR: listenAddr,
        STATEHOUSE_DATA_DIR: this.dataDir,
        STATEHOUSE_READY_FILE: readyFile,
        STATEHOUSE_LOG_LEVEL: "warn",
        ...this.#env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output.push(chunk.toString("utf8"));
      if (this.#output.length > 200) this.#output.splice(0, this.#output.length - 200);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.#exited = new Promise((resolveExit) => {
      child.once("exit", (code, signal) => resolveExit({ code, signal }));
    });
    let exitedEarly: DaemonExit | undefined;
    void this.#exited.then((exit) => {
      exitedEarly = exit;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exitedEarly !== undefined) {
        throw new Error(`daemon exited before it was ready (${JSON.stringify(exitedEarly)}):\n${this.output}`);
      }
      const info = await readFile(readyFile, "utf8").then(
        (text) => JSON.parse(text) as ReadyInfo,
        () => undefined,
      );
      if (info !== undefined && info.pid === child.pid) {
        this.#address = info.address;
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    throw new Error(`daemon not ready after ${READY_TIMEOUT_MS} ms:\n${this.output}`);
  }

  /** Sends `signal` (default SIGKILL: a crash, not a graceful stop) and waits for the exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<DaemonExit> {
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
    }
    return this.#exited;
  }

  /** Graceful stop (SIGTERM), escalating to SIGKILL if it hangs. */
  async stop(): Promise<DaemonExit> {
    const timer = setTimeout(() => this.#child?.kill("SIGKILL"), STOP_TIMEOUT_MS);
    try {
      return await this.kill("SIGTERM");
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Starts the daemon again on the same address and data dir (after a kill or
   * stop), optionally with a changed environment (e.g. without a failpoint).
   */
  async restart(env?: Record<string, string>): Promise<void> {
    if (this.pid !== undefined) throw new Error("daemon still running");
    if (env !== undefined) this.#env = env;
    await this.#spawn(this.address);
  }

  /** Stops the process and removes the temp dirs. */
  async dispose(): Promise<void> {
    if (this.pid !== undefined) await this.stop();
    await rm(this.#workDir, { recursive: true, force: true });
    if (this.#ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * The daemon most tests use: STATEHOUSE_TEST_URL when set (an already running
 * daemon), else a fresh process. `dispose` stops only what it started.
 */
export async function testDaemonUrl(options: DaemonOptions = {}): Promise<{ url: string; dispose: () => Promise<void> }> {
  const external = process.env["STATEHOUSE_TEST_URL"];
  if (external !== undefined && external !== "") {
    return { url: external, dispose: () => Promise.resolve() };
  }
  const daemon = await DaemonProcess.start(options);
  return { url: daemon.url, dispose: () => daemon.dispose() };
}

/** A unique agent id, so tests never see each other's data (also on a shared daemon). */
export function uniqueAgent(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
