// The line-delimited JSON protocol between the harness and the SDK drivers
// (e2e/drivers/python/driver.py and ts-driver.ts). One command per line on
// the driver's stdin, one reply per line on its stdout. A driver handles one
// command at a time (it is one sequential client). Integers that can exceed
// 2^53 (monotonic nanoseconds) travel as decimal strings.

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export interface KeyRef {
  agent: string;
  key: string;
}

/** One operation of a transaction: `value: null` deletes the key. */
export interface OpSpec extends KeyRef {
  value: JsonObject | null;
}

export type DriverCommand =
  | { op: "health" }
  /**
   * begin -> tx.get for each of `gets` -> write/delete each op -> (pause) -> commit.
   * Python runs it inside `with client.begin_transaction() as tx:`. With
   * `idempotency_key`, the transaction is begun with that key.
   * With `pause`, the driver replies `{event: "paused"}` after staging and
   * waits for `{op: "resume"}` before it commits.
   */
  | { op: "txn"; ops: OpSpec[]; gets?: KeyRef[]; pause?: boolean; idempotency_key?: string }
  /**
   * run_transaction / withTransaction with `retries`: reads `counter` inside
   * the transaction (tx.get), writes counter {n: n + 1, uid} and `ops`.
   * The SDK's retry uses one idempotency key for every attempt.
   */
  | { op: "run_txn"; ops: OpSpec[]; counter?: KeyRef; uid: string; retries: number }
  | { op: "get"; agent: string; key: string }
  | { op: "list_keys"; agent: string }
  | { op: "replay"; agent: string; start_ts?: number; end_ts?: number }
  | { op: "resume" };

export interface StateView {
  exists: boolean;
  value: JsonObject | null;
  version: number;
  commit_ts: number;
}

export interface OperationView {
  key: string;
  value: JsonObject | null;
  version: number;
}

export interface EventView {
  txn_id: string;
  commit_ts: number;
  operations: OperationView[];
}

export interface TxnResult {
  commit_ts: number;
  gets: StateView[];
  /** True when the idempotency key had already committed (nothing applied; commit_ts is the original). */
  duplicate: boolean;
}

export interface RunTxnResult {
  commit_ts: number;
  /** How many times the SDK ran the function. */
  attempts: number;
  /** The counter value this transaction wrote (the last attempt's). */
  counter: number | null;
  /** True when the last attempt found its idempotency key already committed (applied nothing). */
  duplicate: boolean;
}

export interface ResultByOp {
  health: { status: string };
  txn: TxnResult;
  run_txn: RunTxnResult;
  get: StateView;
  list_keys: { keys: string[] };
  replay: { events: EventView[] };
  resume: never;
}

export interface DriverErrorInfo {
  /** The class name of the error the SDK raised (e.g. "ConnectionError"). */
  class: string;
  /** Class names from the error's own class up to the base (MRO / prototype chain). */
  classes: string[];
  /** True when the error is the SDK's own error type (StatehouseError or a subclass). */
  statehouse: boolean;
  /** The SDK's stable error code, when it has one. */
  code: string | null;
  message: string;
  /** Where in a transaction it failed: begin, get, write, commit (null for other commands). */
  stage: string | null;
}

export type DriverReply =
  | { id: number; ok: true; result: unknown; t0: string; t1: string }
  | { id: number; ok: false; error: DriverErrorInfo; t0: string; t1: string };

export type DriverMessage = DriverReply | { id: number; event: "paused" } | { event: "ready"; sdk: string; pid: number };

export type DriverRequest = DriverCommand & { id: number };
