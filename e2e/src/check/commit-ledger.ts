// What every writer tried to commit, and what it was told, checked against
// what the recovered daemon has. Every transaction writes one unique `uid`
// into each value it writes, so its operations can be found in any agent's
// replay (all operations of one transaction share one commit_ts).
import { isDeepStrictEqual } from "node:util";
import type { DriverErrorInfo, EventView, JsonObject, OpSpec } from "../drivers/protocol.js";

/**
 * - acked: the commit returned a commit_ts: it must be present, whole.
 * - failed: it certainly did not commit (failed before the commit call, or
 *   the daemon rejected it): it must be absent.
 * - unknown: the connection broke during the commit call: present (whole)
 *   or absent, both fine.
 * - pending: still in flight (never at verification time).
 */
export type TxnStatus = "pending" | "acked" | "failed" | "unknown";

export interface TxnRecord {
  uid: string;
  writer: string;
  ops: OpSpec[];
  status: TxnStatus;
  commitTs?: number;
  error?: DriverErrorInfo;
}

export interface LedgerReport {
  /** Transactions acknowledged so far. */
  acked: number;
  /** Acknowledged but missing (must be 0). */
  lost: number;
  /** Present with only some of their operations, or with others' (must be 0). */
  partial: number;
  /** Present although they were never attempted, or failed for sure (must be 0). */
  phantom: number;
  /** Interrupted commits that turned out to be applied (whole). */
  unknownApplied: number;
  /** Interrupted commits that turned out not to be applied. */
  unknownAbsent: number;
  /** uid -> commit_ts of every transaction found. */
  found: Map<string, number>;
  problems: string[];
}

function opId(op: { agent: string; key: string }): string {
  return `${op.agent}/${op.key}`;
}

/** The operations a transaction will apply: the last operation on a key wins. */
export function effectiveOps(ops: readonly OpSpec[]): Map<string, JsonObject | null> {
  const result = new Map<string, JsonObject | null>();
  for (const op of ops) result.set(opId(op), op.value);
  return result;
}

export class CommitLedger {
  private readonly records = new Map<string, TxnRecord>();

  /** Registers a transaction before it is sent. Its writes must carry `uid` in their values. */
  begin(uid: string, writer: string, ops: OpSpec[]): TxnRecord {
    if (this.records.has(uid)) throw new TypeError(`uid ${uid} used twice`);
    if (!ops.some((op) => op.value !== null && op.value["uid"] === uid)) {
      throw new TypeError(`transaction ${uid} must write at least one value carrying its uid`);
    }
    const record: TxnRecord = { uid, writer, ops, status: "pending" };
    this.records.set(uid, record);
    return record;
  }

  get(uid: string): TxnRecord | undefined {
    return this.records.get(uid);
  }

  all(): IterableIterator<TxnRecord> {
    return this.records.values();
  }

  /**
   * Checks complete replays of every agent the writers touch (agent -> events).
   * Call it when nothing is in flight.
   */
  verify(eventsByAgent: ReadonlyMap<string, readonly EventView[]>): LedgerReport {
    const problems: string[] = [];
    // commit_ts -> every operation with that commit_ts, across agents.
    const byCommit = new Map<number, Map<string, JsonObject | null>>();
    for (const [agent, events] of eventsByAgent) {
      for (const event of events) {
        let ops = byCommit.get(event.commit_ts);
        if (ops === undefined) byCommit.set(event.commit_ts, (ops = new Map()));
        for (const op of event.operations) ops.set(opId({ agent, key: op.key }), op.value);
      }
    }
    const found = new Map<string, number>();
    let partial = 0;
    let phantom = 0;
    for (const [commitTs, ops] of byCommit) {
      const uids = new Set<string>();
      for (const value of ops.values()) {
        const uid = value?.["uid"];
        if (typeof uid === "string") uids.add(uid);
      }
      if (uids.size !== 1) {
        partial++;
        problems.push(`commit_ts ${commitTs} mixes ${uids.size} transactions: ${[...uids].join(", ")}`);
        continue;
      }
      const [uid = ""] = uids;
      const record = this.records.get(uid);
      if (found.has(uid)) {
        problems.push(`transaction ${uid} applied twice: commit_ts ${found.get(uid)} and ${commitTs}`);
        phantom++;
        continue;
      }
      found.set(uid, commitTs);
      if (record === undefined) {
        phantom++;
        problems.push(`commit_ts ${commitTs} holds transaction ${uid} that no writer sent`);
        continue;
      }
      if (record.status === "failed") {
        phantom++;
        problems.push(
          `transaction ${uid} (${record.writer}) failed for sure (${record.error?.class} at ${record.error?.stage}) but is present at commit_ts ${commitTs}`,
        );
      }
      const want = effectiveOps(record.ops);
      if (!isDeepStrictEqual(ops, want)) {
        partial++;
        const missing = [...want.keys()].filter((id) => !ops.has(id) || !isDeepStrictEqual(ops.get(id), want.get(id)));
        const extra = [...ops.keys()].filter((id) => !want.has(id));
        problems.push(
          `transaction ${uid} at commit_ts ${commitTs} is partial: missing/different ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}`,
        );
      }
    }
    let acked = 0;
    let lost = 0;
    let unknownApplied = 0;
    let unknownAbsent = 0;
    for (const record of this.records.values()) {
      const at = found.get(record.uid);
      switch (record.status) {
        case "acked":
          acked++;
          if (at === undefined) {
            lost++;
            problems.push(`acknowledged transaction ${record.uid} (${record.writer}, commit_ts ${record.commitTs}) is lost`);
          } else if (at !== record.commitTs) {
            problems.push(`transaction ${record.uid} was acknowledged with commit_ts ${record.commitTs} but is at ${at}`);
          }
          break;
        case "unknown":
          if (at === undefined) unknownAbsent++;
          else unknownApplied++;
          break;
        case "pending":
          problems.push(`transaction ${record.uid} is still pending at verification time`);
          break;
        case "failed":
          break;
      }
    }
    return { acked, lost, partial, phantom, unknownApplied, unknownAbsent, found, problems };
  }
}
