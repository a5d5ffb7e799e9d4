import { EngineError } from "../engine-error.ts";

/** Maps a storage failure: a full disk is STORAGE_FULL, anything else STORAGE_ERROR; EngineErrors pass through. */
export function storageError(cause: unknown): EngineError {
  if (cause instanceof EngineError) return cause;
  const message = describeError(cause);
  if (/no space left|ENOSPC|NoSpace/i.test(message)) {
    return new EngineError("STORAGE_FULL", `storage is full: ${message}`, { cause });
  }
  return new EngineError("STORAGE_ERROR", `storage failure: ${message}`, { cause });
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
