// Runs one SDK driver (Python or TypeScript) as a separate process: the
// client side of a scenario. Commands go in as JSON lines on stdin, replies
// come back as JSON lines on stdout (see ../drivers/protocol.ts).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import type {
  DriverCommand,
  DriverErrorInfo,
  DriverMessage,
  DriverReply,
  ResultByOp,
} from "../drivers/protocol.js";
import { bundleTsDriver } from "./bundles.js";
import { trackChild } from "./child-registry.js";
import { cleanEnv, nodeBin, pythonBin, pythonDriver } from "./paths.js";

export type SdkName = "python" | "ts";
export const SDKS: readonly SdkName[] = ["python", "ts"];

export interface DriverOptions {
  url: string;
  namespace?: string;
  /** Label in messages. */
  name?: string;
  /** A call that takes longer counts as a hung SDK. Default 60 s. */
  callTimeoutMs?: number;
}

/** One completed call: the reply plus the monotonic ns interval the driver measured around the SDK call. */
export type CallOutcome<T> =
  | { ok: true; result: T; t0: bigint; t1: bigint }
  | { ok: false; error: DriverErrorInfo; t0: bigint; t1: bigint };

/** Raised by `request` when the SDK call failed. */
export class DriverCallError extends Error {
  override readonly name = "DriverCallError";
  constructor(
    readonly driver: string,
    readonly command: DriverCommand,
    readonly error: DriverErrorInfo,
  ) {
    super(`${driver}: ${command.op} failed with ${error.class} (${error.code ?? "no code"}): ${error.message}`);
  }
}

interface Pending {
  command: DriverCommand;
  resolve(reply: DriverReply): void;
  reject(error: Error): void;
  onPaused?: () => void;
  timer: NodeJS.Timeout;
}

export class DriverProcess {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly stderr: string[] = [];
  private exitError: Error | undefined;
  readonly label: string;

  private constructor(
    readonly sdk: SdkName,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly options: DriverOptions,
  ) {
    this.label = options.name ?? `${sdk}-driver`;
    const out = createInterface({ input: child.stdout, crlfDelay: Infinity });
    out.on("line", (line) => this.onLine(line));
    const err = createInterface({ input: child.stderr, crlfDelay: Infinity });
    err.on("line", (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    child.once("exit", (code, signal) => {
      this.exitError = new Error(`${this.label} exited (code ${code}, signal ${signal})\n${this.stderrTail()}`);
      for (const [id, pending] of this.pending) {
        clearTimeout(pending.timer);
        pending.reject(this.exitError);
        this.pending.delete(id);
      }
    });
  }

  static async spawn(sdk: SdkName, options: DriverOptions): Promise<DriverProcess> {
    const args = ["--url", options.url, "--namespace", options.namespace ?? "default"];
    let child: ChildProcessWithoutNullStreams;
    if (sdk === "python") {
      child = spawn(pythonBin, ["-u", pythonDriver, ...args], {
        env: cleanEnv({ PYTHONUNBUFFERED: "1" }),
        stdio: ["pipe", "pipe", "pipe"],
      });
    } else {
      const bundle = await bundleTsDriver();
      child = spawn(nodeBin, ["--conditions=@statehouse/source", "--enable-source-maps", bundle, ...args], {
        env: cleanEnv(),
        stdio: ["pipe", "pipe", "pipe"],
      });
    }
    trackChild(child);
    const driver = new DriverProcess(sdk, child, options);
    await driver.ready();
    return driver;
  }

  private readyWaiter: { resolve(): void; reject(error: Error): void } | undefined;

  private ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label} did not start\n${this.stderrTail()}`)), 30_000);
      this.readyWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject,
      };
      this.child.once("exit", () => {
        clearTimeout(timer);
        reject(this.exitError ?? new Error(`${this.label} exited during startup\n${this.stderrTail()}`));
      });
    });
  }

  private onLine(line: string): void {
    let message: DriverMessage;
    try {
      message = JSON.parse(line) as DriverMessage;
    } catch {
      this.stderr.push(`[stdout, not JSON] ${line}`);
      return;
    }
    if ("event" in message) {
      if (message.event === "ready") {
        this.readyWaiter?.resolve();
        return;
      }
      this.pending.get(message.id)?.onPaused?.();
      return;
    }
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    pending.resolve(message);
  }

  stderrTail(count = 30): string {
    return this.stderr
      .slice(-count)
      .map((line) => `  [${this.label} stderr] ${line}`)
      .join("\n");
  }

  private send(command: DriverCommand, id: number): void {
    if (this.exitError) throw this.exitError;
    this.child.stdin.write(`${JSON.stringify({ ...command, id })}\n`);
  }

  /** Sends a command and resolves with its outcome (an SDK error is an outcome, not a rejection). */
  call<Op extends Exclude<DriverCommand["op"], "resume">>(
    command: DriverCommand & { op: Op },
    onPaused?: () => void,
  ): Promise<CallOutcome<ResultByOp[Op]>> {
    const id = this.nextId++;
    const op: string = command.op;
    return new Promise<DriverReply>((resolve, reject) => {
      const timeoutMs = this.options.callTimeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: ${op} did not answer within ${timeoutMs} ms (SDK hung?)\n${this.stderrTail()}`));
      }, timeoutMs);
      const pending: Pending = { command, resolve, reject, timer };
      if (onPaused !== undefined) pending.onPaused = onPaused;
      this.pending.set(id, pending);
      try {
        this.send(command, id);
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error as Error);
      }
    }).then((reply) =>
      reply.ok
        ? { ok: true as const, result: reply.result as ResultByOp[Op], t0: BigInt(reply.t0), t1: BigInt(reply.t1) }
        : { ok: false as const, error: reply.error, t0: BigInt(reply.t0), t1: BigInt(reply.t1) },
    );
  }

  /** Like `call`, but throws DriverCallError when the SDK call failed. */
  async request<Op extends Exclude<DriverCommand["op"], "resume">>(
    command: DriverCommand & { op: Op },
  ): Promise<ResultByOp[Op]> {
    const outcome = await this.call<Op>(command);
    if (!outcome.ok) throw new DriverCallError(this.label, command, outcome.error);
    return outcome.result;
  }

  /**
   * A transaction that stops after staging its operations: `paused` resolves
   * once the driver has begun and staged; `resume()` lets it commit; `done`
   * resolves with the commit's outcome.
   */
  pausedTxn(command: Omit<Extract<DriverCommand, { op: "txn" }>, "op" | "pause">): {
    paused: Promise<void>;
    resume(): void;
    done: Promise<CallOutcome<ResultByOp["txn"]>>;
  } {
    let markPaused!: () => void;
    const paused = new Promise<void>((resolve) => (markPaused = resolve));
    const id = this.nextId;
    const done = this.call({ ...command, op: "txn", pause: true }, markPaused);
    return {
      paused: Promise.race([paused, done.then(() => Promise.reject(new Error(`${this.label}: txn finished without pausing`)))]),
      resume: () => this.child.stdin.write(`${JSON.stringify({ op: "resume", id })}\n`),
      done,
    };
  }

  /** Closes stdin (the driver exits on EOF), then makes sure the process is gone. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
