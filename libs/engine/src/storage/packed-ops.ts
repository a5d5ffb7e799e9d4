// A batch of KV operations packed into one ArrayBuffer, so it crosses to the RocksDB writer
// thread as one transfer (no copy, no structured clone of thousands of small Buffers).
// Per operation: u8 type (0 put, 1 del), u32 key length, key, and for a put u32 value length, value.
import type { KvOp } from "./ordered-kv.ts";

const PUT = 0;
const DEL = 1;

export function packOps(ops: readonly KvOp[]): ArrayBuffer {
  let bytes = 0;
  for (const op of ops) bytes += 5 + op.key.length + (op.type === "put" ? 4 + op.value.length : 0);
  const buffer = new ArrayBuffer(bytes);
  const out = Buffer.from(buffer);
  let at = 0;
  for (const op of ops) {
    out[at] = op.type === "put" ? PUT : DEL;
    out.writeUInt32LE(op.key.length, at + 1);
    at += 5 + op.key.copy(out, at + 5);
    if (op.type === "put") {
      out.writeUInt32LE(op.value.length, at);
      at += 4 + op.value.copy(out, at + 4);
    }
  }
  return buffer;
}

/** Calls `put` / `del` for each packed operation, in order, with views into `buffer` (no copies). */
export function unpackOps(buffer: ArrayBuffer, put: (key: Buffer, value: Buffer) => void, del: (key: Buffer) => void): void {
  const data = Buffer.from(buffer);
  let at = 0;
  while (at < data.length) {
    const type = data[at];
    const keyLength = data.readUInt32LE(at + 1);
    const key = data.subarray(at + 5, at + 5 + keyLength);
    at += 5 + keyLength;
    if (type === PUT) {
      const valueLength = data.readUInt32LE(at);
      put(key, data.subarray(at + 4, at + 4 + valueLength));
      at += 4 + valueLength;
    } else if (type === DEL) {
      del(key);
    } else {
      throw new Error(`packed batch damaged: operation type ${String(type)} at byte ${at}`);
    }
  }
}
