// Binary, order-preserving keys for the single ordered keyspace both backends use.
//
// Every key starts with a one-byte table tag. Strings are UTF-8 with an escape so
// that no value can collide with a separator:
//   byte 0x00 inside a string  -> 0x00 0xFF
//   end of a string            -> 0x00 0x01
// The terminator sorts below every continuation byte, so tuples sort exactly like
// (namespace, agent, key) compared component by component in UTF-8 byte order
// (= Unicode code point order). Integers are unsigned 64-bit big-endian.

export const TABLE_META = 0x01;
export const TABLE_EVENT = 0x02;
export const TABLE_AGENT_EVENT = 0x03;
export const TABLE_STATE = 0x04;
export const TABLE_VERSION = 0x05;
/** Format 1's idempotency keys (`06 str(key)` → u64 commit_ts): migrated to TABLE_IDEMPOTENCY at open. */
export const TABLE_IDEMPOTENCY_V1 = 0x06;
/** Idempotency keys scoped by namespace: `07 str(namespace) str(key)` → u64 commit_ts, u64 created-at ms, 32-byte fingerprint. */
export const TABLE_IDEMPOTENCY = 0x07;
/** Expiry order of idempotency keys: `08 u64(created-at ms) str(namespace) str(key)` → empty. */
export const TABLE_IDEMPOTENCY_EXPIRY = 0x08;

const TWO_32 = 2 ** 32;

/** UTF-8 bytes of one string component, with 0x00 escaped as 0x00 0xFF. */
function escapedBytes(value: string): Buffer {
  const raw = Buffer.from(value, "utf8");
  const out: number[] = [];
  for (const byte of raw) {
    out.push(byte);
    if (byte === 0) out.push(0xff);
  }
  return Buffer.from(out);
}

/** tag + each string escaped and terminated (the last one unterminated when `openEnded`), in one allocation. */
function tupleKey(tag: number, parts: readonly string[], openEnded = false): Buffer {
  let size = 1;
  let plain = true;
  for (const part of parts) {
    if (part.includes("\0")) plain = false;
    size += Buffer.byteLength(part) + 2;
  }
  if (!plain) {
    const pieces: Buffer[] = [Buffer.of(tag)];
    parts.forEach((part, i) => {
      pieces.push(escapedBytes(part));
      if (!openEnded || i < parts.length - 1) pieces.push(STRING_END);
    });
    return Buffer.concat(pieces);
  }
  if (openEnded) size -= 2;
  const out = Buffer.allocUnsafe(size);
  out[0] = tag;
  let offset = 1;
  parts.forEach((part, i) => {
    offset += out.write(part, offset, "utf8");
    if (!openEnded || i < parts.length - 1) {
      out[offset++] = 0x00;
      out[offset++] = 0x01;
    }
  });
  return out;
}

const STRING_END = Buffer.of(0x00, 0x01);

export function encodeU64(value: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32BE(Math.floor(value / TWO_32), 0);
  out.writeUInt32BE(value >>> 0, 4);
  return out;
}

export function decodeU64(buffer: Buffer, offset = 0): number {
  return buffer.readUInt32BE(offset) * TWO_32 + buffer.readUInt32BE(offset + 4);
}

/** Reads one escaped string starting at offset; returns it and the offset after its terminator. */
export function decodeString(buffer: Buffer, offset: number): { value: string; next: number } {
  let i = offset;
  let plainStart = offset;
  let chunks: Buffer[] | null = null;
  for (;;) {
    if (i >= buffer.length) throw new RangeError("unterminated string in key");
    const byte = buffer[i];
    if (byte !== 0) {
      i++;
      continue;
    }
    const marker = buffer[i + 1];
    if (marker === 0x01) {
      const tail = buffer.subarray(plainStart, i);
      const value = chunks === null ? tail.toString("utf8") : Buffer.concat([...chunks, tail]).toString("utf8");
      return { value, next: i + 2 };
    }
    if (marker !== 0xff) throw new RangeError("invalid escape in key");
    chunks ??= [];
    chunks.push(buffer.subarray(plainStart, i + 1));
    i += 2;
    plainStart = i;
  }
}

export function metaKey(name: string): Buffer {
  return tupleKey(TABLE_META, [name]);
}

/** Meta key of one namespace's retention record (policy + horizon): `01 str("retention-ns") str(namespace)`. */
export function retentionKey(namespace: string): Buffer {
  return tupleKey(TABLE_META, ["retention-ns", namespace]);
}

/** Prefix of every key of one namespace in a table keyed by (namespace, ...): state, versions, agent events, idempotency keys. */
export function namespacePrefix(table: number, namespace: string): Buffer {
  return tupleKey(table, [namespace]);
}

/** Prefix of the durable purge intents: `01 str("purge-intent") u64(id)` → JSON. */
export const PURGE_INTENT_PREFIX = tupleKey(TABLE_META, ["purge-intent"]);

export function purgeIntentKey(id: number): Buffer {
  return Buffer.concat([PURGE_INTENT_PREFIX, encodeU64(id)]);
}

/** Prefix of every namespace's retention record. */
export const RETENTION_PREFIX = tupleKey(TABLE_META, ["retention-ns"]);

export function eventKey(commitTs: number): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = TABLE_EVENT;
  out.writeUInt32BE(Math.floor(commitTs / TWO_32), 1);
  out.writeUInt32BE(commitTs >>> 0, 5);
  return out;
}

/** Prefix of every key whose last listed string component starts with the last of `parts` (the others whole). */
export function openPrefix(table: number, parts: readonly string[]): Buffer {
  return tupleKey(table, parts, true);
}

export function agentPrefix(table: number, namespace: string, agentId: string): Buffer {
  return tupleKey(table, [namespace, agentId]);
}

export function agentEventKey(prefix: Buffer, commitTs: number): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + 8);
  prefix.copy(out);
  out.writeUInt32BE(Math.floor(commitTs / TWO_32), prefix.length);
  out.writeUInt32BE(commitTs >>> 0, prefix.length + 4);
  return out;
}

/**
 * A copy of `key` in memory of its own, for a key kept beyond the request that made it. Small
 * Buffers are slices of Node's shared allocation pool (64 KiB slabs in Node 24), and one live
 * slice keeps its whole slab: the keys an open transaction holds for its life (staged writes,
 * recorded reads) each pinned up to 64 KiB that way.
 */
export function unpooled(key: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(key.length);
  key.copy(out);
  return out;
}

export function stateKey(namespace: string, agentId: string, key: string): Buffer {
  return tupleKey(TABLE_STATE, [namespace, agentId, key]);
}

/** Version-index key: the state key with another tag, followed by the version. */
export function versionKey(stateKeyBuffer: Buffer, version: number): Buffer {
  const out = Buffer.allocUnsafe(stateKeyBuffer.length + 8);
  stateKeyBuffer.copy(out);
  out[0] = TABLE_VERSION;
  out.writeUInt32BE(Math.floor(version / TWO_32), stateKeyBuffer.length);
  out.writeUInt32BE(version >>> 0, stateKeyBuffer.length + 4);
  return out;
}

/** State-key prefix for every key of (namespace, agent) starting with `keyPrefix`. */
export function statePrefix(namespace: string, agentId: string, keyPrefix: string): Buffer {
  return tupleKey(TABLE_STATE, [namespace, agentId, keyPrefix], true);
}

export function idempotencyKey(namespace: string, key: string): Buffer {
  return tupleKey(TABLE_IDEMPOTENCY, [namespace, key]);
}

/** Expiry-index key of an idempotency key: created-at first, so expired keys are one range from the start. */
export function idempotencyExpiryKey(createdAtMs: number, namespace: string, key: string): Buffer {
  const tuple = tupleKey(TABLE_IDEMPOTENCY_EXPIRY, [namespace, key]);
  const out = Buffer.allocUnsafe(tuple.length + 8);
  out[0] = TABLE_IDEMPOTENCY_EXPIRY;
  out.writeUInt32BE(Math.floor(createdAtMs / TWO_32), 1);
  out.writeUInt32BE(createdAtMs >>> 0, 5);
  tuple.copy(out, 9, 1);
  return out;
}

/** Decodes (createdAtMs, namespace, key) from an expiry-index key. */
export function decodeIdempotencyExpiryKey(buffer: Buffer): { createdAtMs: number; namespace: string; key: string } {
  const ns = decodeString(buffer, 9);
  return { createdAtMs: decodeU64(buffer, 1), namespace: ns.value, key: decodeString(buffer, ns.next).value };
}

/** Decodes the single string of a format-1 idempotency key. */
export function decodeV1IdempotencyKey(buffer: Buffer): string {
  return decodeString(buffer, 1).value;
}

/** The smallest key greater than every key starting with prefix (for exclusive upper bounds). */
export function prefixEnd(prefix: Buffer): Buffer {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) throw new RangeError("prefix has no upper bound");
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1] = (out[end - 1] ?? 0) + 1;
  return out;
}

/** Decodes (namespace, agentId, key) from a state or version key. */
export function decodeRecordKey(buffer: Buffer): { namespace: string; agentId: string; key: string; next: number } {
  const ns = decodeString(buffer, 1);
  const agent = decodeString(buffer, ns.next);
  const key = decodeString(buffer, agent.next);
  return { namespace: ns.value, agentId: agent.value, key: key.value, next: key.next };
}

/** Decodes only the record key (third string) given the offset after the agent prefix. */
export function decodeKeyAfterPrefix(buffer: Buffer, prefixLength: number): { key: string; next: number } {
  const decoded = decodeString(buffer, prefixLength);
  return { key: decoded.value, next: decoded.next };
}
