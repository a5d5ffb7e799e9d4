// The API keys, kept in <data dir>/auth/api-keys.json (mode 0600) as key
// records holding only SHA-256 hashes of their secrets. Writers (the daemon's
// AuthService, `statehoused auth bootstrap`) take an exclusive lock file,
// re-read the file, change it and replace it atomically (write, fsync,
// rename, fsync the directory); the daemon re-reads the file when it changed
// on disk (refresh(), once a second and on SIGHUP), so a key bootstrapped by
// the command while the daemon runs works without a restart. With in-memory
// storage the keys live in memory only.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { formatToken, hashSecret, newKeyId, newSecret, secretMatches } from "./api-key-token.js";
import type { Grant } from "./grants.js";

export interface KeyLimits {
  /** 0: the daemon's per-key default. */
  maxOpenTransactions: number;
  maxOpenStreams: number;
  /** Token bucket; 0: unlimited. */
  requestsPerSecond: number;
  burst: number;
}

export interface StoredSecret {
  sha256: string;
  /** Set on a rotated-out secret: accepted until then (ms since the epoch). */
  notAfterMs: number | null;
}

export interface ApiKeyRecord {
  keyId: string;
  name: string;
  grants: Grant[];
  limits: KeyLimits;
  createdAtMs: number;
  revokedAtMs: number | null;
  rotatedAtMs: number | null;
  expiresAtMs: number | null;
  secrets: StoredSecret[];
}

export interface NewKey {
  name: string;
  grants: Grant[];
  limits?: Partial<KeyLimits>;
  expiresAtMs?: number | null;
}

export type VerifyResult = { ok: true; key: ApiKeyRecord } | { ok: false; reason: "unknown_key" | "wrong_secret" | "revoked" | "expired" };

interface KeyFile {
  version: 1;
  keys: ApiKeyRecord[];
}

const FILE_NAME = "api-keys.json";
const LOCK_WAIT_MS = 5000;

export const NO_LIMITS: KeyLimits = { maxOpenTransactions: 0, maxOpenStreams: 0, requestsPerSecond: 0, burst: 0 };

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class ApiKeyStore {
  /** null: in memory only. */
  readonly dir: string | null;
  #keys = new Map<string, ApiKeyRecord>();
  #loadedStamp = "";
  readonly #now: () => number;

  private constructor(dir: string | null, now: () => number) {
    this.dir = dir;
    this.#now = now;
  }

  /** The store of a data dir (`<dataDir>/auth`), or an in-memory one (dataDir null). */
  static open(dataDir: string | null, options: { now?: () => number } = {}): ApiKeyStore {
    const store = new ApiKeyStore(dataDir === null ? null : join(dataDir, "auth"), options.now ?? Date.now);
    store.refresh();
    return store;
  }

  get file(): string | null {
    return this.dir === null ? null : join(this.dir, FILE_NAME);
  }

  /** Re-reads the file when it changed on disk; returns true when it did. */
  refresh(): boolean {
    const file = this.file;
    if (file === null) return false;
    const stamp = this.#stamp(file);
    if (stamp === this.#loadedStamp) return false;
    this.#keys = this.#read(file);
    this.#loadedStamp = stamp;
    return true;
  }

  get(keyId: string): ApiKeyRecord | undefined {
    return this.#keys.get(keyId);
  }

  list(includeRevoked = false): ApiKeyRecord[] {
    return [...this.#keys.values()].filter((k) => includeRevoked || k.revokedAtMs === null).sort((a, b) => a.createdAtMs - b.createdAtMs || a.keyId.localeCompare(b.keyId));
  }

  /** Whether a usable (not revoked, not expired) key has admin on "*". */
  hasActiveAdmin(): boolean {
    const now = this.#now();
    return this.list().some((k) => (k.expiresAtMs === null || k.expiresAtMs > now) && k.grants.some((g) => g.role === "admin" && g.namespacePattern === "*"));
  }

  /** Checks a presented secret against the key's current (and rotated-out, still in grace) hashes. */
  verify(keyId: string, secret: string): VerifyResult {
    const key = this.#keys.get(keyId);
    if (key === undefined) return { ok: false, reason: "unknown_key" };
    const now = this.#now();
    // Every hash is compared (constant time each), so the answer's timing does not tell which matched.
    let matched = false;
    for (const s of key.secrets) {
      if (secretMatches(secret, s.sha256) && (s.notAfterMs === null || s.notAfterMs > now)) matched = true;
    }
    if (!matched) return { ok: false, reason: "wrong_secret" };
    if (key.revokedAtMs !== null) return { ok: false, reason: "revoked" };
    if (key.expiresAtMs !== null && key.expiresAtMs <= now) return { ok: false, reason: "expired" };
    return { ok: true, key };
  }

  /** Creates a key; returns it and its token (the only time the secret exists outside the caller). */
  create(init: NewKey): { key: ApiKeyRecord; token: string } {
    return this.#mutate((keys) => {
      let keyId = newKeyId();
      while (keys.has(keyId)) keyId = newKeyId();
      const secret = newSecret();
      const key: ApiKeyRecord = {
        keyId,
        name: init.name,
        grants: init.grants.map((g) => ({ namespacePattern: g.namespacePattern, role: g.role })),
        limits: { ...NO_LIMITS, ...init.limits },
        createdAtMs: this.#now(),
        revokedAtMs: null,
        rotatedAtMs: null,
        expiresAtMs: init.expiresAtMs ?? null,
        secrets: [{ sha256: hashSecret(secret), notAfterMs: null }],
      };
      keys.set(keyId, key);
      return { key, token: formatToken(keyId, secret) };
    });
  }

  /** Revokes a key (idempotent); undefined when there is no such key. */
  revoke(keyId: string): ApiKeyRecord | undefined {
    return this.#mutate((keys) => {
      const key = keys.get(keyId);
      if (key === undefined) return undefined;
      key.revokedAtMs ??= this.#now();
      return key;
    });
  }

  /** A new secret for the key; the current one keeps working for `graceMs` (0: stops now). */
  rotate(keyId: string, graceMs: number): { key: ApiKeyRecord; token: string } | undefined {
    return this.#mutate((keys) => {
      const key = keys.get(keyId);
      if (key === undefined || key.revokedAtMs !== null) return undefined;
      const now = this.#now();
      const secret = newSecret();
      const kept = graceMs > 0 ? key.secrets.filter((s) => s.notAfterMs === null || s.notAfterMs > now).map((s) => ({ sha256: s.sha256, notAfterMs: Math.min(s.notAfterMs ?? Infinity, now + graceMs) })) : [];
      key.secrets = [{ sha256: hashSecret(secret), notAfterMs: null }, ...kept];
      key.rotatedAtMs = now;
      return { key, token: formatToken(keyId, secret) };
    });
  }

  #stamp(file: string): string {
    try {
      const s = statSync(file);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return "absent";
    }
  }

  #read(file: string): Map<string, ApiKeyRecord> {
    if (!existsSync(file)) return new Map();
    const parsed = JSON.parse(readFileSync(file, "utf8")) as KeyFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.keys)) throw new Error(`${file}: not a statehoused API key file (version 1)`);
    return new Map(parsed.keys.map((k) => [k.keyId, k]));
  }

  /** Applies a change under the lock to the latest file contents and writes it back. */
  #mutate<T>(change: (keys: Map<string, ApiKeyRecord>) => T): T {
    const file = this.file;
    if (file === null || this.dir === null) return change(this.#keys);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const unlock = this.#lock(join(this.dir, `${FILE_NAME}.lock`));
    try {
      const keys = this.#read(file);
      const result = change(keys);
      const tmp = `${file}.${process.pid}.tmp`;
      const fd = openSync(tmp, "w", 0o600);
      try {
        writeSync(fd, `${JSON.stringify({ version: 1, keys: [...keys.values()] } satisfies KeyFile, null, 1)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
      const dirFd = openSync(this.dir, "r");
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
      this.#keys = keys;
      this.#loadedStamp = this.#stamp(file);
      return result;
    } finally {
      unlock();
    }
  }

  #lock(path: string): () => void {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const fd = openSync(path, "wx", 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return () => unlinkSync(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      let holder = 0;
      try {
        holder = Number(readFileSync(path, "utf8").trim() || "0");
      } catch {
        continue; // released meanwhile
      }
      if (holder > 0 && !processAlive(holder)) {
        unlinkSync(path);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${path} is held by process ${holder}: another statehoused is changing the API keys`);
      sleepSync(10);
    }
  }
}
