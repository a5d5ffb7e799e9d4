// The audit log: authentication failures, permission denials and admin
// actions as structured lines ({"audit":"auth_failure",...}) on the daemon's
// log stream, with the key id and never a secret. Under attack it stays
// bounded: each kind of line (failures, actions) passes a token bucket, and
// the lines it drops are counted and reported (every 10 s, and at shutdown).
import { TokenBucket } from "./token-bucket.js";

export interface AuditSink {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface AuditLogOptions {
  /** Lines per second per kind, sustained; default 20. */
  ratePerSecond?: number;
  /** Lines per kind in a burst; default 100. */
  burst?: number;
  now?: () => number;
}

type Kind = "failure" | "action";

const REPORT_EVERY_MS = 10_000;

export class AuditLog {
  readonly #sink: AuditSink;
  readonly #buckets: Record<Kind, TokenBucket>;
  readonly #suppressed: Record<Kind, number> = { failure: 0, action: 0 };
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;

  constructor(sink: AuditSink, options: AuditLogOptions = {}) {
    this.#sink = sink;
    this.#now = options.now ?? Date.now;
    const rate = options.ratePerSecond ?? 20;
    const burst = options.burst ?? 100;
    this.#buckets = { failure: new TokenBucket(rate, burst, this.#now()), action: new TokenBucket(rate, burst, this.#now()) };
    this.#timer = setInterval(() => this.flush(), REPORT_EVERY_MS);
    this.#timer.unref();
  }

  /** An authentication failure or a permission denial (warn). */
  failure(event: string, fields: Record<string, unknown>, msg: string): void {
    this.#write("failure", event, fields, msg);
  }

  /** An admin action that succeeded (info). */
  action(event: string, fields: Record<string, unknown>, msg: string): void {
    this.#write("action", event, fields, msg);
  }

  /** Reports the lines dropped since the last report. */
  flush(): void {
    for (const kind of ["failure", "action"] as const) {
      const n = this.#suppressed[kind];
      if (n === 0) continue;
      this.#suppressed[kind] = 0;
      this.#sink.warn({ audit: "suppressed", kind, suppressed: n }, `audit: ${n} ${kind === "failure" ? "auth failure / permission denied" : "admin action"} lines were not logged (audit rate limit)`);
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }

  #write(kind: Kind, event: string, fields: Record<string, unknown>, msg: string): void {
    if (!this.#buckets[kind].take(this.#now())) {
      this.#suppressed[kind] += 1;
      return;
    }
    const line = { audit: event, ...fields };
    if (kind === "failure") this.#sink.warn(line, msg);
    else this.#sink.info(line, msg);
  }
}
