// Client-side validation of record values, so a bad write fails at once
// instead of at commit.
import { StatehouseError } from "./errors.js";
import type { JsonObject, JsonValue } from "./types.js";

/** The daemon's default STATEHOUSE_MAX_VALUE_BYTES. */
export const DEFAULT_MAX_VALUE_BYTES = 1_048_576;

const encoder = new TextEncoder();

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function copyJson(value: unknown, path: string, seen: Set<object>): JsonValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) {
        throw new TypeError(`${path} is ${String(value)}, which JSON cannot represent`);
      }
      return value;
    case "object":
      break;
    default:
      throw new TypeError(`${path} is a ${typeof value}, which is not JSON-serializable`);
  }
  if (value === null) {
    return null;
  }
  if (seen.has(value)) {
    throw new TypeError(`${path} is a circular reference`);
  }
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      return value.map((item: unknown, index) => copyJson(item, `${path}[${index}]`, seen));
    }
    if (!isPlainObject(value)) {
      throw new TypeError(`${path} is a ${value.constructor?.name ?? "non-plain object"}, not a plain JSON object`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw new TypeError(`${path} has symbol keys, which are not JSON-serializable`);
    }
    const copy: JsonObject = {};
    for (const [key, item] of Object.entries(value)) {
      copy[key] = copyJson(item, `${path}.${key}`, seen);
    }
    return copy;
  } finally {
    seen.delete(value);
  }
}

/**
 * Checks that `value` is a plain JSON object no larger than `maxBytes` (UTF-8
 * bytes of its JSON text) and returns a deep copy, so later mutation by the
 * caller cannot change what gets committed.
 *
 * @throws TypeError when `value` is not a plain, JSON-serializable object
 * @throws StatehouseError `LIMIT_EXCEEDED` when it is too large
 */
export function validateValue(value: unknown, maxBytes: number): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`value must be a plain JSON object, got ${Array.isArray(value) ? "an array" : String(value)}`);
  }
  const copy = copyJson(value, "value", new Set()) as JsonObject;
  const bytes = encoder.encode(JSON.stringify(copy)).length;
  if (bytes > maxBytes) {
    throw new StatehouseError("LIMIT_EXCEEDED", `value is ${bytes} bytes of JSON, more than the limit of ${maxBytes}`, {
      details: { limit: "max_value_bytes", max: String(maxBytes), actual: String(bytes) },
    });
  }
  return copy;
}
