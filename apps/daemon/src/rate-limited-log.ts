// Rate limiting for repeated identical log lines: a failing disk or a client
// hammering the daemon must not turn into one synchronous log line per failed
// call. The first line of a kind is logged at once; identical ones in the
// next window are counted instead, and the next line of that kind after the
// window (or flush(), at shutdown) says how many were suppressed.
//
// "Identical": same level and message, same error (name, code, message) and
// the same string fields (procedure, remote address...); numbers may differ.

export interface LevelLogger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface RateLimitOptions {
  /** How long identical lines are suppressed after one is logged. */
  windowMs: number;
  /** Kinds of line remembered at once (the oldest is forgotten first). */
  maxKinds?: number;
  /** Clock; tests pass their own. */
  now?: () => number;
}

interface Kind {
  level: "error" | "warn";
  obj: object;
  msg: string | undefined;
  until: number;
  suppressed: number;
}

function errorKey(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return `${err.name}|${typeof code === "string" ? code : ""}|${err.message}`;
}

function kindKey(level: string, obj: object, msg: string | undefined): string {
  const parts = [level, msg ?? ""];
  for (const [key, value] of Object.entries(obj)) {
    if (key === "err") parts.push(`err=${errorKey(value)}`);
    else if (typeof value === "string") parts.push(`${key}=${value}`);
  }
  return parts.join("\u0000");
}

export class RateLimitedLog implements LevelLogger {
  readonly #sink: LevelLogger;
  readonly #windowMs: number;
  readonly #maxKinds: number;
  readonly #now: () => number;
  readonly #kinds = new Map<string, Kind>();

  constructor(sink: LevelLogger, options: RateLimitOptions) {
    this.#sink = sink;
    this.#windowMs = options.windowMs;
    this.#maxKinds = options.maxKinds ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  error(obj: object, msg?: string): void {
    this.#log("error", obj, msg);
  }

  warn(obj: object, msg?: string): void {
    this.#log("warn", obj, msg);
  }

  /** Logs how many lines of each kind are still suppressed (at shutdown). */
  flush(): void {
    for (const kind of this.#kinds.values()) {
      if (kind.suppressed > 0) this.#write(kind.level, kind.obj, kind.msg, kind.suppressed);
    }
    this.#kinds.clear();
  }

  #log(level: "error" | "warn", obj: object, msg: string | undefined): void {
    const key = kindKey(level, obj, msg);
    const now = this.#now();
    const known = this.#kinds.get(key);
    if (known !== undefined && now < known.until) {
      known.suppressed += 1;
      known.obj = obj;
      return;
    }
    this.#kinds.delete(key);
    this.#kinds.set(key, { level, obj, msg, until: now + this.#windowMs, suppressed: 0 });
    if (this.#kinds.size > this.#maxKinds) {
      const [oldestKey, oldest] = this.#kinds.entries().next().value as [string, Kind];
      this.#kinds.delete(oldestKey);
      if (oldest.suppressed > 0) this.#write(oldest.level, oldest.obj, oldest.msg, oldest.suppressed);
    }
    this.#write(level, obj, msg, known?.suppressed ?? 0);
  }

  #write(level: "error" | "warn", obj: object, msg: string | undefined, suppressed: number): void {
    if (suppressed === 0) {
      this.#sink[level](obj, msg);
      return;
    }
    const seconds = this.#windowMs / 1000;
    this.#sink[level]({ ...obj, suppressed }, `${msg ?? ""} (${suppressed} more like it in the last ${seconds} s were not logged)`);
  }
}
