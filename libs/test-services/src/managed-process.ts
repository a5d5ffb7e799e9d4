// A child process the bench started: output goes to a log file (so a peer's
// chatter never mixes with the table), and `stop` ends exactly this process.
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import { once } from "node:events";

export interface ManagedProcessOptions {
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
}

export class ManagedProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly startedAt: number;
  private exited: Promise<void>;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;

  constructor(options: ManagedProcessOptions) {
    this.logFile = options.logFile;
    const fd = openSync(options.logFile, "a");
    this.startedAt = performance.now();
    try {
      this.child = spawn(options.command, options.args, {
        env: options.env ?? process.env,
        cwd: options.cwd,
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.exited = once(this.child, "exit").then(([code, signal]) => {
      this.exitCode = code as number | null;
      this.exitSignal = signal as NodeJS.Signals | null;
    });
    // A spawn failure (ENOENT) surfaces as "error" before "exit".
    this.child.on("error", () => undefined);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`process did not start; see ${this.logFile}`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  /** The last lines of the log, for error messages. */
  tail(lines = 20): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /** SIGTERM (or the given signal), then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when the process exits. */
  wait(): Promise<void> {
    return this.exited;
  }
}

/** Polls `check` every `intervalMs` until it returns a value, the process dies, or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  process: ManagedProcess | null,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  intervalMs = 10,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (process !== null && !process.running) {
      throw new Error(`${what}: process exited (${process.exitCode ?? process.exitSignal}) before it was ready:\n${process.tail()}`);
    }
    if (performance.now() > deadline) {
      throw new Error(`${what}: not ready after ${timeoutMs} ms${process === null ? "" : `:\n${process.tail()}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
