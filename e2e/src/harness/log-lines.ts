// The daemon logs one JSON object per line (pino). The harness keeps every
// line and reads the recovery facts out of them: which snapshot was loaded,
// how many events were replayed, the commit_ts after recovery, the address.

export interface LogLine {
  /** The raw text of the line. */
  raw: string;
  /** The parsed JSON object, or undefined for a line that is not JSON. */
  json: Record<string, unknown> | undefined;
  stream: "stdout" | "stderr";
}

export function parseLogLine(raw: string, stream: LogLine["stream"] = "stdout"): LogLine {
  const text = raw.trim();
  if (text.startsWith("{")) {
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        return { raw, json: value as Record<string, unknown>, stream };
      }
    } catch {
      // Not JSON (a partial line written at the instant of a SIGKILL, a crash trace).
    }
  }
  return { raw, json: undefined, stream };
}

/** What recovery reported in the log of one daemon run. */
export interface RecoveryFacts {
  /** commit_ts of the snapshot that was loaded; null when the log says none was used. */
  snapshotTs: bigint | null | undefined;
  snapshotFile: string | null | undefined;
  eventsReplayed: number | undefined;
  /** The commit_ts once recovery finished. */
  commitTs: bigint | undefined;
  /** How long recovery took, as the daemon measured it. */
  durationMs: number | undefined;
  /** The storage the log says is used ("rocksdb" / "memory"). */
  storage: string | undefined;
  /** Notes of the recovery (fallbacks taken, corrupt snapshots skipped...). */
  notes: string[];
  /** The address the log says the daemon listens on. */
  address: string | undefined;
  /** The recovery line itself, undefined when the log has none. */
  line: string | undefined;
}

const aliases = {
  snapshotTs: ["snapshotTs", "snapshot_ts", "snapshotCommitTs", "snapshot_commit_ts"],
  snapshotFile: ["snapshotFile", "snapshot_file"],
  eventsReplayed: ["eventsReplayed", "events_replayed"],
  commitTs: ["commitTs", "commit_ts"],
  durationMs: ["durationMs", "duration_ms"],
  storage: ["storage"],
  notes: ["notes"],
  address: ["address"],
} as const;

/** Finds a field by any of its spellings, also one level down (pino child objects such as `recovery: {...}`). */
function findField(json: Record<string, unknown>, names: readonly string[]): unknown {
  for (const name of names) if (name in json) return json[name];
  for (const nested of Object.values(json)) {
    if (nested !== null && typeof nested === "object" && !Array.isArray(nested)) {
      const record = nested as Record<string, unknown>;
      for (const name of names) if (name in record) return record[name];
    }
  }
  return undefined;
}

function toBigInt(value: unknown): bigint | null | undefined {
  if (value === null) return null;
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^\d+$/.test(value)) return BigInt(value);
  if (typeof value === "bigint") return value;
  return undefined;
}

/**
 * Reads the recovery facts from a run's log: the last line that reports how
 * many events were replayed is the recovery line; the address comes from
 * the last line that carries one.
 */
export function recoveryFromLogs(lines: readonly LogLine[]): RecoveryFacts {
  const facts: RecoveryFacts = {
    snapshotTs: undefined,
    snapshotFile: undefined,
    eventsReplayed: undefined,
    commitTs: undefined,
    durationMs: undefined,
    storage: undefined,
    notes: [],
    address: undefined,
    line: undefined,
  };
  for (const line of lines) {
    const json = line.json;
    if (json === undefined) continue;
    const address = findField(json, aliases.address);
    if (typeof address === "string") facts.address = address;
    const replayed = findField(json, aliases.eventsReplayed);
    if (typeof replayed !== "number") continue;
    facts.line = line.raw;
    facts.eventsReplayed = replayed;
    const snapshotTs = toBigInt(findField(json, aliases.snapshotTs));
    facts.snapshotTs = snapshotTs;
    const snapshotFile = findField(json, aliases.snapshotFile);
    facts.snapshotFile = typeof snapshotFile === "string" || snapshotFile === null ? snapshotFile : undefined;
    const commitTs = toBigInt(findField(json, aliases.commitTs));
    facts.commitTs = commitTs ?? undefined;
    const duration = findField(json, aliases.durationMs);
    facts.durationMs = typeof duration === "number" ? duration : undefined;
    const storage = findField(json, aliases.storage);
    facts.storage = typeof storage === "string" ? storage : undefined;
    const notes = findField(json, aliases.notes);
    facts.notes = Array.isArray(notes) ? notes.map(String) : [];
  }
  return facts;
}

/** The last `count` lines of a log, for error messages. */
export function logTail(lines: readonly LogLine[], count = 20): string {
  return lines
    .slice(-count)
    .map((line) => `  [${line.stream}] ${line.raw}`)
    .join("\n");
}
