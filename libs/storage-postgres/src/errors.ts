// Driver errors as the engine and the logs want them.
import { EngineError } from "@statehouse/engine";

/** What a log line needs of a driver error (the error objects carry the whole client). */
export function describeError(error: unknown): { message: string; code?: string } {
  const { message, code } = error as { message?: unknown; code?: unknown };
  return { message: typeof message === "string" ? message : String(error), ...(typeof code === "string" ? { code } : {}) };
}

/** A read that failed because of the database: STORAGE_ERROR, as a RocksDB read failure is. */
export function readFailed(error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const { message, code } = describeError(error);
  return new EngineError("STORAGE_ERROR", `PostgreSQL read failed: ${message}`, { cause: error, details: code === undefined ? {} : { sqlstate: code } });
}
