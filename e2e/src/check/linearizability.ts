// A linearizability check of a concurrent history of commits and reads
// against a sequential model of the store.
//
// The store claims a total order of its commits: commit_ts. A history is
// linearizable with respect to that order when every operation can be placed
// at one point of it, inside the operation's real-time interval:
//   - a commit sits exactly at its commit_ts;
//   - a read of key k that returned version v (committed at c) sits anywhere
//     in [c, c' - 1], c' being the next commit of k after c (so it saw the
//     latest commit of k at that point, and that commit really happened);
//   - if operation A ended before B began (monotonic clocks of one machine),
//     A's point precedes B's (strictly when B is a commit).
// These are difference constraints with lower and upper bounds, so the least
// assignment — each operation at the earliest point its predecessors allow —
// exists exactly when the history is linearizable: one sweep in start order.
import { isDeepStrictEqual } from "node:util";
import type { JsonObject } from "../drivers/protocol.js";

export interface CommitOp {
  kind: "commit";
  client: string;
  t0: bigint;
  /** null when no reply came back (connection lost during the commit) and it was nevertheless applied. */
  t1: bigint | null;
  commitTs: number;
  label: string;
}

export interface ReadOp {
  kind: "read";
  client: string;
  t0: bigint;
  t1: bigint;
  /** "agent/key". */
  key: string;
  exists: boolean;
  value: JsonObject | null;
  version: number;
  commitTs: number;
}

export type HistoryOp = CommitOp | ReadOp;

/** One committed version of a key, from the final replay. */
export interface KeyVersion {
  version: number;
  commitTs: number;
  /** null for a delete. */
  value: JsonObject | null;
}

export interface LinearizabilityReport {
  checked: number;
  commits: number;
  reads: number;
  violations: string[];
}

/**
 * @param ops - completed reads and applied commits
 * @param versions - "agent/key" -> its versions in order (1, 2, ...), from the final replay
 */
export function checkLinearizable(ops: readonly HistoryOp[], versions: ReadonlyMap<string, readonly KeyVersion[]>): LinearizabilityReport {
  const violations: string[] = [];
  const describe = (op: HistoryOp): string =>
    op.kind === "commit"
      ? `commit ${op.label} by ${op.client} (commit_ts ${op.commitTs})`
      : `read of ${op.key} by ${op.client} (version ${op.version}, commit_ts ${op.commitTs})`;

  // Each op's allowed range [lo, hi] of points.
  interface Placed {
    op: HistoryOp;
    lo: number;
    hi: number;
    point: number;
  }
  const placed: Placed[] = [];
  for (const op of ops) {
    if (op.kind === "commit") {
      placed.push({ op, lo: op.commitTs, hi: op.commitTs, point: op.commitTs });
      continue;
    }
    const history = versions.get(op.key) ?? [];
    let lo = 0;
    let nextIndex = 0;
    if (op.version === 0) {
      if (op.exists || op.commitTs !== 0) violations.push(`${describe(op)}: version 0 must be exists=false, commit_ts 0`);
    } else {
      const index = history.findIndex((entry) => entry.version === op.version);
      const entry = history[index];
      if (entry === undefined) {
        violations.push(`${describe(op)}: that version was never committed`);
        continue;
      }
      if (entry.commitTs !== op.commitTs) {
        violations.push(`${describe(op)}: that version was committed at commit_ts ${entry.commitTs}`);
      }
      const seen = op.exists ? op.value : null;
      if (op.exists !== (entry.value !== null) || !isDeepStrictEqual(seen, entry.value)) {
        violations.push(`${describe(op)}: returned ${JSON.stringify(seen)} but that version is ${JSON.stringify(entry.value)}`);
      }
      lo = entry.commitTs;
      nextIndex = index + 1;
    }
    const next = history[nextIndex];
    const hi = next === undefined ? Number.MAX_SAFE_INTEGER : next.commitTs - 1;
    placed.push({ op, lo, hi, point: lo });
  }

  const byStart = [...placed].sort((a, b) => (a.op.t0 < b.op.t0 ? -1 : a.op.t0 > b.op.t0 ? 1 : 0));
  const completed = placed
    .filter((entry): entry is Placed & { op: { t1: bigint } } => entry.op.t1 !== null)
    .sort((a, b) => (a.op.t1 < b.op.t1 ? -1 : a.op.t1 > b.op.t1 ? 1 : 0));
  let next = 0;
  // The latest point of any operation that completed before the current one began.
  let floor = 0;
  let floorOp: Placed | undefined;
  for (const entry of byStart) {
    for (let done = completed[next]; done !== undefined && done.op.t1 < entry.op.t0; done = completed[++next]) {
      if (floorOp === undefined || done.point > floor) {
        floor = done.point;
        floorOp = done;
      }
    }
    if (entry.op.kind === "commit") {
      if (floorOp !== undefined && floor >= entry.op.commitTs) {
        violations.push(
          `${describe(entry.op)} began after ${describe(floorOp.op)} had completed, yet must come before it (point ${floor})`,
        );
      }
      continue;
    }
    entry.point = Math.max(entry.lo, floor);
    if (entry.point > entry.hi) {
      violations.push(
        `${describe(entry.op)} is stale: it began after ${floorOp === undefined ? "?" : describe(floorOp.op)} had completed (point ${floor}), but version ${entry.op.version} was already overwritten at commit_ts ${entry.hi + 1}`,
      );
      entry.point = entry.hi;
    }
  }
  const commits = placed.filter((entry) => entry.op.kind === "commit").length;
  return { checked: placed.length, commits, reads: placed.length - commits, violations };
}
