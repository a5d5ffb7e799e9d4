// Argument checks shared by the client and transactions.

/**
 * Checks that an agent id, key or namespace is a non-empty string.
 *
 * @throws TypeError otherwise
 */
export function requireName(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`${name} must be a non-empty string, got ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}
