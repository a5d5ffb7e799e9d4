// Conversion of user-supplied unsigned 64-bit integers (commit_ts, version).
import type { Uint64Input } from "./types.js";

const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * Converts a `bigint | number` to a uint64 `bigint`.
 *
 * @throws TypeError when it is negative, fractional, unsafe or too large
 */
export function toUint64(input: Uint64Input, name: string): bigint {
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input) || input < 0) {
      throw new TypeError(`${name} must be a non-negative safe integer or a bigint, got ${input}`);
    }
    return BigInt(input);
  }
  if (typeof input !== "bigint" || input < 0n || input > MAX_UINT64) {
    throw new TypeError(`${name} must be an unsigned 64-bit integer, got ${String(input)}`);
  }
  return input;
}

/** Like {@link toUint64} but passes `undefined` through. */
export function toOptionalUint64(input: Uint64Input | undefined, name: string): bigint | undefined {
  return input === undefined ? undefined : toUint64(input, name);
}
