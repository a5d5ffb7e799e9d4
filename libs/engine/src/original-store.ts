// Reads the data directory of an original Statehouse 0.1.x daemon (its Rust RocksStorage):
// one RocksDB database in `<dir>/rocksdb`, default column family, UTF-8 keys and JSON values:
//
//   event:<commit_ts, 20 digits>                 {"txn_id","commit_ts","operations":[{"namespace","agent_id","key","value"|null,"version"}]}
//   state:<namespace>:<agent_id>:<key>           {"namespace","agent_id","key","value"|null,"version","commit_ts","deleted"}  (latest)
//   version:<namespace>:<agent_id>:<key>:<v,20>  the same record at each version
//   __commit_ts__                                u64 big-endian (written on snapshot restore only)
//
// Nothing is written to it (RocksDB itself adds its LOG and OPTIONS files when it opens).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { EngineError } from "./engine-error.ts";
import type { ImportEvent } from "./import-events.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import type { JsonObject } from "./types.ts";

/** The latest state of one record, as the original stored it. */
export interface OriginalRecord {
  namespace: string;
  agentId: string;
  key: string;
  value: JsonObject | null;
  version: number;
  commitTs: number;
  deleted: boolean;
}

export interface OriginalStore {
  /** Every event in commit_ts order (committedAtMs 0: the original kept no commit time). */
  events(): AsyncIterable<ImportEvent>;
  /** The latest state of every record, in key order. */
  records(): AsyncIterable<OriginalRecord>;
  close(): Promise<void>;
}

const CHUNK = 256;
const EVENT_PREFIX = Buffer.from("event:", "utf8");
const STATE_PREFIX = Buffer.from("state:", "utf8");

/** True when `dataDir` holds an original daemon's database (`rocksdb/CURRENT`). */
export function hasOriginalStore(dataDir: string): boolean {
  return existsSync(join(resolve(dataDir), "rocksdb", "CURRENT"));
}

function afterPrefix(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return end;
}

function bad(where: string, why: string): EngineError {
  return new EngineError("CORRUPTION", `original store: ${where}: ${why}`);
}

function str(value: unknown, where: string, field: string): string {
  if (typeof value !== "string") throw bad(where, `${field} is not a string`);
  return value;
}

function u64(value: unknown, where: string, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw bad(where, `${field} is not an integer`);
  return value;
}

function jsonObject(value: unknown, where: string): JsonObject | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object" || Array.isArray(value)) throw bad(where, "value is not a JSON object");
  return value as JsonObject;
}

function parse(raw: Buffer, where: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch {
    throw bad(where, "value is not JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw bad(where, "value is not a JSON object");
  return parsed as Record<string, unknown>;
}

export function decodeOriginalEvent(key: Buffer, raw: Buffer): ImportEvent {
  const where = key.toString("utf8");
  const event = parse(raw, where);
  const commitTs = u64(event["commit_ts"], where, "commit_ts");
  if (where !== `event:${String(commitTs).padStart(20, "0")}`) throw bad(where, `commit_ts ${commitTs} does not match the key`);
  const operations = event["operations"];
  if (!Array.isArray(operations)) throw bad(where, "operations is not a list");
  return {
    txnId: str(event["txn_id"], where, "txn_id"),
    commitTs,
    committedAtMs: 0,
    operations: operations.map((op: unknown, i) => {
      if (op === null || typeof op !== "object") throw bad(where, `operation ${i} is not an object`);
      const o = op as Record<string, unknown>;
      return {
        namespace: str(o["namespace"], where, "namespace"),
        agentId: str(o["agent_id"], where, "agent_id"),
        key: str(o["key"], where, "key"),
        version: u64(o["version"], where, "version"),
        value: jsonObject(o["value"], where),
      };
    }),
  };
}

export function decodeOriginalRecord(key: Buffer, raw: Buffer): OriginalRecord {
  const where = key.toString("utf8");
  const record = parse(raw, where);
  return {
    namespace: str(record["namespace"], where, "namespace"),
    agentId: str(record["agent_id"], where, "agent_id"),
    key: str(record["key"], where, "key"),
    value: jsonObject(record["value"], where),
    version: u64(record["version"], where, "version"),
    commitTs: u64(record["commit_ts"], where, "commit_ts"),
    deleted: record["deleted"] === true,
  };
}

/** Opens `<dataDir>/rocksdb` of an original daemon; rejects with INVALID_ARGUMENT when there is none. */
export async function openOriginalStore(dataDir: string): Promise<OriginalStore> {
  if (!hasOriginalStore(dataDir)) throw new EngineError("INVALID_ARGUMENT", `${join(resolve(dataDir), "rocksdb")} is not an original Statehouse database (no CURRENT file)`);
  const kv = await RocksKv.open(join(resolve(dataDir), "rocksdb"));
  async function* scan<T>(prefix: Buffer, decode: (key: Buffer, raw: Buffer) => T): AsyncIterable<T> {
    const iterator = kv.iterator({ gte: prefix, lt: afterPrefix(prefix), chunkBytes: 1024 * 1024 });
    try {
      for (;;) {
        const rows = await iterator.next(CHUNK);
        if (rows.length === 0) return;
        for (const [key, raw] of rows) yield decode(key, raw);
      }
    } finally {
      iterator.close();
    }
  }
  return {
    events: () => scan(EVENT_PREFIX, decodeOriginalEvent),
    records: () => scan(STATE_PREFIX, decodeOriginalRecord),
    close: () => kv.close(),
  };
}
