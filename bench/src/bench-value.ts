// The payload every P1 transaction writes: a JSON object whose compact JSON
// encoding is exactly VALUE_BYTES bytes, with a varying step number.
import type { JsonObject } from "@bufbuild/protobuf";

export const VALUE_BYTES = 200;

/** A JSON object of exactly `bytes` bytes as compact JSON (bytes >= 60). */
export function benchValue(seq: number, bytes = VALUE_BYTES): JsonObject {
  const base = { kind: "observation", step: seq, tool: "search", ok: true, note: "" };
  const pad = bytes - Buffer.byteLength(JSON.stringify(base));
  if (pad < 0) throw new TypeError(`benchValue: ${bytes} bytes is too small`);
  return { ...base, note: "x".repeat(pad) };
}

/** The same value as a JSON string (for etcd and PostgreSQL). */
export function benchValueJson(seq: number, bytes = VALUE_BYTES): string {
  return JSON.stringify(benchValue(seq, bytes));
}
