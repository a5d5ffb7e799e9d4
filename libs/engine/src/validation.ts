// Argument checks. Wrong types are programmer misuse (TypeError); well-typed but
// unacceptable content (empty key, lone surrogate, oversized value) is INVALID_ARGUMENT
// or LIMIT_EXCEEDED, which the daemon reports to clients.
import { EngineError } from "./engine-error.ts";
import type { JsonObject, RecordRef } from "./types.ts";

const MAX_NAME_BYTES = 1024;
// In unicode mode \p{Cs} matches only unpaired surrogates (paired ones form one code point).
const LONE_SURROGATE = /\p{Cs}/u;
// Cheap pre-check (no unicode mode): most names contain no surrogate at all.
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

export function checkName(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  if (value.length === 0) throw new EngineError("INVALID_ARGUMENT", `${what} must not be empty`);
  if (ANY_SURROGATE.test(value) && LONE_SURROGATE.test(value)) throw new EngineError("INVALID_ARGUMENT", `${what} contains a lone surrogate`);
  // UTF-8 needs at most 3 bytes per UTF-16 code unit: short strings cannot exceed the limit.
  if (value.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(value) > MAX_NAME_BYTES) {
    throw new EngineError("INVALID_ARGUMENT", `${what} is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return value;
}

export function checkRef(ref: unknown): RecordRef {
  if (typeof ref !== "object" || ref === null) throw new TypeError("record reference must be an object");
  const r = ref as Partial<RecordRef>;
  return { namespace: checkName(r.namespace, "namespace"), agentId: checkName(r.agentId, "agentId"), key: checkName(r.key, "key") };
}

/** Validates a JSON object value and returns its serialization and its size in UTF-8 bytes. */
export function serializeValue(value: unknown, maxBytes: number): { json: string; bytes: number } {
  if (!isPlainObject(value)) throw new TypeError("value must be a plain JSON object");
  checkJson(value, 0);
  const json = JSON.stringify(value);
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) {
    throw new EngineError("LIMIT_EXCEEDED", `value is larger than ${maxBytes} bytes`, { details: { maxValueBytes: String(maxBytes) } });
  }
  return { json, bytes };
}

function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function checkJson(value: unknown, depth: number): void {
  if (depth > 100) throw new EngineError("INVALID_ARGUMENT", "value is nested too deeply");
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new EngineError("INVALID_ARGUMENT", "value contains a non-finite number");
      return;
    case "object":
      if (value === null) return;
      if (Array.isArray(value)) {
        for (const item of value) checkJson(item, depth + 1);
        return;
      }
      if (!isPlainObject(value)) throw new EngineError("INVALID_ARGUMENT", "value contains a non-JSON object");
      for (const item of Object.values(value)) checkJson(item, depth + 1);
      return;
    default:
      throw new EngineError("INVALID_ARGUMENT", `value contains a ${typeof value}`);
  }
}

export function checkTimestamp(value: unknown, what: string): bigint {
  if (typeof value !== "bigint") throw new TypeError(`${what} must be a bigint`);
  if (value < 0n) throw new EngineError("INVALID_ARGUMENT", `${what} must not be negative`);
  return value;
}

/** Converts a non-negative bigint to a number, clamping beyond 2^53 (never reached by counters). */
export function toSafeNumber(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

export function checkTimeout(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new TypeError(`${what} must be an integer`);
  if (value <= 0) throw new EngineError("INVALID_ARGUMENT", `${what} must be positive`);
  return value;
}
