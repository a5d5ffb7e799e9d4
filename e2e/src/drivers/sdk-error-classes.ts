// The TypeScript SDK's error classes an error belongs to, most derived first.
// Shared by the Node driver and the browser page: "@statehouse/sdk" resolves
// to the entry point of whichever platform the bundle is for.
import { ConflictError, ConnectionError, NotFoundError, StatehouseError, TransactionError } from "@statehouse/sdk";

const SDK_ERRORS: ReadonlyArray<readonly [string, abstract new (...args: never[]) => Error]> = [
  ["ConflictError", ConflictError],
  ["TransactionError", TransactionError],
  ["NotFoundError", NotFoundError],
  ["ConnectionError", ConnectionError],
  ["StatehouseError", StatehouseError],
];

/** Names of the SDK error classes `error` is an instance of; the error's own name when none. */
export function sdkErrorClasses(error: unknown): string[] {
  const classes = SDK_ERRORS.filter(([, type]) => error instanceof type).map(([name]) => name);
  if (classes.length === 0) classes.push(error instanceof Error ? error.name : typeof error);
  return classes;
}

/** The SDK's stable code, or null for an error that is not the SDK's. */
export function sdkErrorCode(error: unknown): string | null {
  return error instanceof StatehouseError ? error.code : null;
}
