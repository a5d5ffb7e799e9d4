// Crash points for crash tests: the process SIGKILLs itself on the Nth hit of a named point.

export const FAILPOINT_NAMES = [
  "commit:before-sync",
  "commit:after-sync-before-reply",
  "snapshot:mid-write",
  "recovery:mid-replay",
  "purge:mid-purge",
] as const;

export type FailpointName = (typeof FAILPOINT_NAMES)[number];

function isFailpointName(name: string): name is FailpointName {
  return (FAILPOINT_NAMES as readonly string[]).includes(name);
}

/** Parses `<name>[@N]` (as in STATEHOUSE_FAILPOINT); throws TypeError for an unknown name or a bad N. */
export function parseFailpoint(spec: string): { name: FailpointName; after: number } {
  const [name = "", n] = spec.split("@");
  const after = n === undefined ? 1 : Number(n);
  if (!isFailpointName(name)) throw new TypeError(`unknown failpoint ${JSON.stringify(name)}; known: ${FAILPOINT_NAMES.join(", ")}`);
  if (!Number.isSafeInteger(after) || after < 1) throw new TypeError(`failpoint hit count must be a positive integer, got ${JSON.stringify(n)}`);
  return { name, after };
}

export class Failpoints {
  private hits = 0;
  private readonly config: { name: string; after?: number } | undefined;

  constructor(config: { name: string; after?: number } | undefined) {
    this.config = config;
    if (config !== undefined && !isFailpointName(config.name)) {
      throw new TypeError(`unknown failpoint ${config.name}; known: ${FAILPOINT_NAMES.join(", ")}`);
    }
  }

  hit(name: FailpointName): void {
    if (this.config?.name !== name) return;
    this.hits++;
    if (this.hits >= (this.config.after ?? 1)) process.kill(process.pid, "SIGKILL");
  }
}
