// Random identifiers (idempotency keys). crypto.getRandomValues exists in
// Node and in every browser, also outside secure contexts (unlike randomUUID).

/** 128 random bits as 32 lowercase hex characters. */
export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
