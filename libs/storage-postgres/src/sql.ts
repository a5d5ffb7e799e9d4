// SQL text for the store. Keys and values are bytea; bytea compares byte by byte (memcmp,
// no collation), which is exactly the engine's key order. Statements that are sent with
// the simple query protocol (several in one round trip) carry their bytes as hex literals.
import type { KvOp } from "@statehouse/engine";

/** A bytea literal: E'\\x…' reads the same whatever standard_conforming_strings says. */
export function byteaLiteral(bytes: Buffer): string {
  return `E'\\\\x${bytes.toString("hex")}'::bytea`;
}

/** A quoted identifier (schema names come from configuration). */
export function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new TypeError(`schema name ${JSON.stringify(name)} must match [a-z_][a-z0-9_]* (at most 63 characters)`);
  return `"${name}"`;
}

export interface Tables {
  kv: string;
  lock: string;
  migrations: string;
  channel: string;
}

export function tables(schema: string): Tables {
  const s = identifier(schema);
  return { kv: `${s}.kv`, lock: `${s}.commit_lock`, migrations: `${s}.schema_migrations`, channel: `${schema}_commits` };
}

/**
 * One round trip: open the transaction, take the commit lock (the one row of commit_lock,
 * FOR UPDATE: waits while another engine's batch holds it), then read the keys. The read is
 * a later statement than the lock, so in READ COMMITTED it sees every batch committed before.
 */
export function lockAndReadSql(t: Tables, keys: readonly Buffer[]): string {
  const lock = `BEGIN; SELECT last_ts FROM ${t.lock} WHERE id = 1 FOR UPDATE`;
  if (keys.length === 0) return lock;
  return `${lock}; SELECT key, value FROM ${t.kv} WHERE key IN (${keys.map(byteaLiteral).join(",")})`;
}

/**
 * One round trip: the batch's writes (the last operation on a key wins), the announcement
 * (commit_lock.last_ts and NOTIFY, both delivered with the commit), COMMIT. COMMIT returns
 * once the database made the transaction durable (synchronous_commit).
 */
export function writeAndCommitSql(t: Tables, ops: readonly KvOp[], announce: number | null): string {
  const last = new Map<string, KvOp>();
  for (const op of ops) last.set(op.key.toString("hex"), op);
  const puts: string[] = [];
  const dels: string[] = [];
  for (const op of last.values()) {
    if (op.type === "put") puts.push(`(${byteaLiteral(op.key)},${byteaLiteral(op.value)})`);
    else dels.push(byteaLiteral(op.key));
  }
  const statements: string[] = [];
  if (dels.length > 0) statements.push(`DELETE FROM ${t.kv} WHERE key IN (${dels.join(",")})`);
  if (puts.length > 0) {
    statements.push(`INSERT INTO ${t.kv} (key, value) VALUES ${puts.join(",")} ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`);
  }
  if (announce !== null) {
    if (!Number.isSafeInteger(announce) || announce < 0) throw new RangeError(`announce must be a commit_ts, got ${announce}`);
    statements.push(`UPDATE ${t.lock} SET last_ts = ${announce} WHERE id = 1`);
    statements.push(`SELECT pg_notify('${t.channel}', '${announce}')`);
  }
  statements.push("COMMIT");
  return statements.join("; ");
}
