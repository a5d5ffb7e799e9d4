// The API key store on its own: hashes only on disk, verification, rotation
// with a grace period, revocation, and a second writer's change seen by refresh().
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyStore } from "./api-key-store.js";
import { hashSecret, parseToken } from "./api-key-token.js";
import { grantsAllow, patternMatches } from "./grants.js";

let dir: string;
let now = 1_000_000;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "statehouse-keys-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("ApiKeyStore", () => {
  it("keeps only the SHA-256 of a secret, and verifies the token", async () => {
    const store = ApiKeyStore.open(dir, { now: () => now });
    const { key, token } = store.create({ name: "n", grants: [{ namespacePattern: "a", role: "read" }] });
    const parsed = parseToken(token);
    expect(parsed?.keyId).toBe(key.keyId);
    const file = await readFile(join(dir, "auth", "api-keys.json"), "utf8");
    expect(file).not.toContain(parsed?.secret);
    expect(file).toContain(hashSecret(parsed?.secret ?? ""));
    expect(store.verify(key.keyId, parsed?.secret ?? "")).toMatchObject({ ok: true });
    expect(store.verify(key.keyId, "x".repeat(43))).toEqual({ ok: false, reason: "wrong_secret" });
    expect(store.verify("aaaaaaaaaaaaaaaa", parsed?.secret ?? "")).toEqual({ ok: false, reason: "unknown_key" });
  });

  it("rotates with a grace period, revokes, and expires", () => {
    const store = ApiKeyStore.open(dir, { now: () => now });
    const { key, token } = store.create({ name: "r", grants: [], expiresAtMs: now + 10_000 });
    const old = parseToken(token)?.secret ?? "";
    const rotated = store.rotate(key.keyId, 1000);
    const fresh = parseToken(rotated?.token ?? "")?.secret ?? "";
    expect(store.verify(key.keyId, old).ok).toBe(true);
    expect(store.verify(key.keyId, fresh).ok).toBe(true);
    now += 1001;
    expect(store.verify(key.keyId, old).ok).toBe(false);
    expect(store.verify(key.keyId, fresh).ok).toBe(true);
    now += 10_000;
    expect(store.verify(key.keyId, fresh)).toEqual({ ok: false, reason: "expired" });
    store.revoke(key.keyId);
    expect(store.verify(key.keyId, fresh)).toEqual({ ok: false, reason: "revoked" });
    expect(store.rotate(key.keyId, 0)).toBeUndefined();
  });

  it("sees another writer's key after refresh()", () => {
    const daemon = ApiKeyStore.open(dir);
    const cli = ApiKeyStore.open(dir);
    const { key } = cli.create({ name: "from-cli", grants: [{ namespacePattern: "*", role: "admin" }] });
    expect(daemon.get(key.keyId)).toBeUndefined();
    expect(daemon.refresh()).toBe(true);
    expect(daemon.get(key.keyId)?.name).toBe("from-cli");
    expect(daemon.hasActiveAdmin()).toBe(true);
    // Both writers' keys survive: each change re-reads the file under the lock.
    const mine = daemon.create({ name: "from-daemon", grants: [] });
    expect(ApiKeyStore.open(dir).list().map((k) => k.keyId)).toEqual(expect.arrayContaining([key.keyId, mine.key.keyId]));
  });

  it("in memory: nothing on disk", () => {
    const store = ApiKeyStore.open(null);
    store.create({ name: "m", grants: [] });
    expect(store.file).toBeNull();
    expect(store.list()).toHaveLength(1);
  });
});

describe("grants", () => {
  it("matches exact names, prefixes and *; * as a namespace only by *", () => {
    expect(patternMatches("team-*", "team-a")).toBe(true);
    expect(patternMatches("team-*", "teamb")).toBe(false);
    expect(patternMatches("a", "ab")).toBe(false);
    expect(patternMatches("*", "anything")).toBe(true);
    expect(patternMatches("team-*", "*")).toBe(false);
    expect(grantsAllow([{ namespacePattern: "a", role: "write" }], "a", "read")).toBe(true);
    expect(grantsAllow([{ namespacePattern: "a", role: "read" }], "a", "write")).toBe(false);
    expect(grantsAllow([{ namespacePattern: "*", role: "write" }], "*", "admin")).toBe(false);
  });
});
