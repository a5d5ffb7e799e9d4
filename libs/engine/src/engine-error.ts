// The engine's single error type. Callers branch on `code`, never on messages.

export const ENGINE_ERROR_CODES = [
  "TXN_NOT_FOUND",
  "TXN_EXPIRED",
  "TXN_ALREADY_COMMITTED",
  "TXN_ABORTED",
  "CONFLICT",
  "IDEMPOTENCY_KEY_REUSED",
  "VERSION_NOT_FOUND",
  "HISTORY_COMPACTED",
  "INVALID_ARGUMENT",
  "LIMIT_EXCEEDED",
  "STORAGE_FULL",
  "STORAGE_ERROR",
  "CORRUPTION",
  "LOCKED",
  "CLOSED",
] as const;

export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

export class EngineError extends Error {
  override readonly name = "EngineError";
  readonly code: EngineErrorCode;
  readonly details: Readonly<Record<string, string>>;

  constructor(code: EngineErrorCode, message: string, options: { cause?: unknown; details?: Record<string, string> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isEngineError(error: unknown, code?: EngineErrorCode): error is EngineError {
  return error instanceof EngineError && (code === undefined || error.code === code);
}
