// API key tokens: "shk_<key_id>_<secret>". The key id is public (it names the
// key in listings and audit lines); the secret is 256 random bits, kept by the
// daemon only as its SHA-256. A slow password hash (scrypt, argon2) protects
// guessable secrets; a 256-bit random secret cannot be guessed, so one SHA-256
// (about a microsecond) is as safe and keeps checking a key on every call cheap.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const TOKEN_PREFIX = "shk_";
/** Longest Authorization header value looked at; longer is refused before any parsing. */
export const MAX_TOKEN_CHARS = 256;

const KEY_ID = /^[a-z2-7]{16}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

export interface ParsedToken {
  keyId: string;
  secret: string;
}

/** A new key id: 16 base32 characters (80 random bits). */
export function newKeyId(): string {
  const bytes = randomBytes(16);
  let id = "";
  for (const byte of bytes) id += BASE32[byte & 31];
  return id;
}

/** A new secret: 32 random bytes, base64url (43 characters). */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function formatToken(keyId: string, secret: string): string {
  return `${TOKEN_PREFIX}${keyId}_${secret}`;
}

/** Parses a token; null when it is not one (wrong prefix, length or characters). */
export function parseToken(token: string): ParsedToken | null {
  if (token.length > MAX_TOKEN_CHARS || !token.startsWith(TOKEN_PREFIX)) return null;
  const keyId = token.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + 16);
  if (token[TOKEN_PREFIX.length + 16] !== "_") return null;
  const secret = token.slice(TOKEN_PREFIX.length + 17);
  if (!KEY_ID.test(keyId) || !SECRET.test(secret)) return null;
  return { keyId, secret };
}

export function isKeyId(value: string): boolean {
  return KEY_ID.test(value);
}

/** The stored form of a secret: SHA-256, hex. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Compares a presented secret with a stored hash in constant time (both are 32-byte digests). */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = createHash("sha256").update(secret, "utf8").digest();
  const stored = Buffer.from(storedHash, "hex");
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
