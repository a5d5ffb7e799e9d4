// Crash-test failpoints: STATEHOUSE_FAILPOINT=<name>[@N] makes the process
// SIGKILL itself at the Nth hit of that named point. The engine fires the
// storage-side points (it receives the same spec through EngineOptions); the
// daemon fires commit:after-sync-before-reply.

export const FAILPOINT_NAMES = [
  "commit:before-sync",
  "commit:after-sync-before-reply",
  "snapshot:mid-write",
  "recovery:mid-replay",
] as const;

export type FailpointName = (typeof FAILPOINT_NAMES)[number];

export function isFailpointName(name: string): name is FailpointName {
  return (FAILPOINT_NAMES as readonly string[]).includes(name);
}

/** Splits `<name>[@N]`; throws TypeError for an unknown name or a bad N. */
export function parseFailpoint(spec: string): { name: FailpointName; after: number } {
  const [name = "", n] = spec.split("@");
  const after = n === undefined ? 1 : Number(n);
  if (!isFailpointName(name)) throw new TypeError(`unknown failpoint ${JSON.stringify(name)}`);
  if (!Number.isSafeInteger(after) || after < 1) throw new TypeError(`failpoint hit count must be a positive integer, got ${JSON.stringify(n)}`);
  return { name, after };
}

/** The armed failpoint of this process (or none). */
export class Failpoints {
  readonly #name: FailpointName | null;
  readonly #trigger: number;
  #hits = 0;

  /** `spec` is `<name>[@N]` (already validated by the config) or null. */
  constructor(spec: string | null) {
    if (spec === null) {
      this.#name = null;
      this.#trigger = 0;
      return;
    }
    const { name, after } = parseFailpoint(spec);
    this.#name = name;
    this.#trigger = after;
  }

  /** Counts a hit of `name`; at the configured hit the process dies by SIGKILL. */
  hit(name: FailpointName): void {
    if (this.#name !== name) return;
    this.#hits += 1;
    if (this.#hits === this.#trigger) process.kill(process.pid, "SIGKILL");
  }
}
