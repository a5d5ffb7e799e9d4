// Crash points for crash tests: the process SIGKILLs itself on the Nth hit of a named point.

export const FAILPOINT_NAMES = [
  "commit:before-sync",
  "commit:after-sync-before-reply",
  "snapshot:mid-write",
  "recovery:mid-replay",
] as const;

export type FailpointName = (typeof FAILPOINT_NAMES)[number];

export class Failpoints {
  private hits = 0;
  private readonly config: { name: string; after?: number } | undefined;

  constructor(config: { name: string; after?: number } | undefined) {
    this.config = config;
    if (config !== undefined && !(FAILPOINT_NAMES as readonly string[]).includes(config.name)) {
      throw new TypeError(`unknown failpoint ${config.name}; known: ${FAILPOINT_NAMES.join(", ")}`);
    }
  }

  hit(name: FailpointName): void {
    if (this.config?.name !== name) return;
    this.hits++;
    if (this.hits >= (this.config.after ?? 1)) process.kill(process.pid, "SIGKILL");
  }
}
