// Configuration: defaults, precedence (flags > env > file > defaults),
// validation naming the setting; and the same through the real process.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, envAliasesInUse, exposureProblem, isLoopbackHost, parseListenAddr, redactedStorageUrl, resolveConfig, SETTINGS } from "./config.js";
import { DaemonProcess, runDaemonToExit, spawnDaemon } from "@statehouse/test-services";
import { failure, GrpcJsDriver } from "./test-support/rpc-drivers.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "statehoused-config-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("resolveConfig", () => {
  it("selects cluster mode with a postgres:// storage URL; RocksDB stays the default", () => {
    expect(resolveConfig({ env: {} }).storage).toBeNull();
    const config = resolveConfig({ env: { STATEHOUSE_STORAGE: "postgres://u:pw@db:5432/sh?sslmode=verify-full", STATEHOUSE_POSTGRES_SCHEMA: "team_a" } });
    expect(config).toMatchObject({ storage: "postgres://u:pw@db:5432/sh?sslmode=verify-full", postgresSchema: "team_a", postgresPoolSize: 10, postgresNotify: true });
    expect(resolveConfig({ cli: { storage: "postgresql://db/sh" }, env: {} }).storage).toBe("postgresql://db/sh");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_STORAGE: "mysql://db/sh" } })).setting).toBe("STATEHOUSE_STORAGE");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_POSTGRES_SCHEMA: "Drop Table" } })).setting).toBe("STATEHOUSE_POSTGRES_SCHEMA");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_STORAGE: "postgres://db/sh", STATEHOUSE_USE_MEMORY: "1" } })).message).toContain("exclude each other");
    expect(redactedStorageUrl("postgres://u:pw@db:5432/sh")).toBe("postgres://u:***@db:5432/sh");
  });

  it("has the spec's defaults", () => {
    const config = resolveConfig({ env: {}, cwd: "/srv" });
    expect(config).toMatchObject({
      listenAddr: "localhost:50051",
      dataDir: "/srv/statehouse-data",
      useMemory: false,
      fsyncOnCommit: true,
      snapshotInterval: 1000,
      txTimeoutMs: 30_000,
      maxValueBytes: 1_048_576,
      rocksdbCacheMb: 4,
      rocksdbMemtableMb: 32,
      versionCacheMb: 1,
      rocksdbWriter: "wal-sync",
      logLevel: "info",
      readyFile: null,
      failpoint: null,
      maxRequestBytes: 4 * 1024 * 1024,
    });
  });

  it("reads the environment, with booleans and lists", () => {
    const config = resolveConfig({
      env: {
        STATEHOUSE_LISTEN_ADDR: "[::1]:0",
        STATEHOUSE_USE_MEMORY: "1",
        STATEHOUSE_FSYNC_ON_COMMIT: "false",
        STATEHOUSE_CORS_ORIGINS: "https://app.example.com, http://localhost:*",
        STATEHOUSE_FAILPOINT: "snapshot:mid-write@3",
        STATEHOUSE_LOG_LEVEL: "DEBUG",
      },
    });
    expect(config).toMatchObject({
      listenAddr: "[::1]:0",
      useMemory: true,
      fsyncOnCommit: false,
      corsOrigins: ["https://app.example.com", "http://localhost:*"],
      failpoint: "snapshot:mid-write@3",
      logLevel: "debug",
    });
  });

  it("takes flags over environment over config file over defaults", async () => {
    const file = join(dir, "precedence.json");
    await writeFile(file, JSON.stringify({ snapshotInterval: 7, txTimeoutMs: 1234, maxKeyBytes: 100, corsOrigins: ["*"] }));
    const config = resolveConfig({
      configFile: file,
      env: { STATEHOUSE_TX_TIMEOUT_MS: "2000", STATEHOUSE_MAX_KEY_BYTES: "200" },
      cli: { maxKeyBytes: "300" },
    });
    expect(config).toMatchObject({ snapshotInterval: 7, txTimeoutMs: 2000, maxKeyBytes: 300, corsOrigins: ["*"] });
  });

  it("rejects invalid values naming the setting and where it came from", async () => {
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_MAX_VALUE_BYTES: "1MB" } })).message).toMatch(/STATEHOUSE_MAX_VALUE_BYTES \(environment\).*"1MB"/);
    expect(configError(() => resolveConfig({ cli: { snapshotInterval: "-1" } })).message).toContain("--snapshot-interval (command line)");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_FSYNC_ON_COMMIT: "maybe" } })).setting).toBe("STATEHOUSE_FSYNC_ON_COMMIT");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_LISTEN_ADDR: "localhost" } })).setting).toBe("STATEHOUSE_LISTEN_ADDR");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_LISTEN_ADDR: "localhost:70000" } })).setting).toBe("STATEHOUSE_LISTEN_ADDR");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_LOG_LEVEL: "loud" } })).setting).toBe("STATEHOUSE_LOG_LEVEL");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_CORS_ORIGINS: "example.com" } })).setting).toBe("STATEHOUSE_CORS_ORIGINS");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_FAILPOINT: "commit:sometime" } })).setting).toBe("STATEHOUSE_FAILPOINT");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_FAILPOINT: "commit:before-sync@0" } })).setting).toBe("STATEHOUSE_FAILPOINT");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_MAX_REQUEST_BYTES: "100000", STATEHOUSE_MAX_VALUE_BYTES: "100000" } })).setting).toBe(
      "STATEHOUSE_MAX_REQUEST_BYTES",
    );
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_TX_TIMEOUT_MS: "5000", STATEHOUSE_MAX_TXN_TIMEOUT_MS: "1000" } })).setting).toBe("STATEHOUSE_TX_TIMEOUT_MS");
    const file = join(dir, "bad.json");
    await writeFile(file, JSON.stringify({ maxValueBites: 3 }));
    expect(configError(() => resolveConfig({ configFile: file })).message).toContain('unknown setting "maxValueBites"');
    await writeFile(file, "{ not json");
    expect(configError(() => resolveConfig({ configFile: file })).message).toContain("not valid JSON");
    expect(configError(() => resolveConfig({ configFile: join(dir, "missing.json") })).message).toContain("cannot read config file");
  });

  it("reads the RocksDB memory sizes in MiB, within the binding's bounds", () => {
    expect(resolveConfig({ env: { STATEHOUSE_ROCKSDB_CACHE_MB: "64" }, cli: { rocksdbMemtableMb: "8" } })).toMatchObject({ rocksdbCacheMb: 64, rocksdbMemtableMb: 8 });
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_ROCKSDB_CACHE_MB: "0" } })).setting).toBe("STATEHOUSE_ROCKSDB_CACHE_MB");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_ROCKSDB_CACHE_MB: "4096" } })).setting).toBe("STATEHOUSE_ROCKSDB_CACHE_MB");
    expect(configError(() => resolveConfig({ cli: { rocksdbMemtableMb: "2" } })).message).toContain("--rocksdb-memtable-mb (command line)");
  });

  it("reads the version cache budget in MiB, 0 = none", () => {
    expect(resolveConfig({ env: { STATEHOUSE_VERSION_CACHE_MB: "0" } })).toMatchObject({ versionCacheMb: 0 });
    expect(resolveConfig({ cli: { versionCacheMb: "64" } })).toMatchObject({ versionCacheMb: 64 });
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_VERSION_CACHE_MB: "-1" } })).setting).toBe("STATEHOUSE_VERSION_CACHE_MB");
    expect(configError(() => resolveConfig({ cli: { versionCacheMb: "1025" } })).message).toContain("--version-cache-mb (command line)");
  });

  it("reads the memory budgets, the idempotency window and the recovery mode, naming a bad one", () => {
    expect(resolveConfig({ env: {} })).toMatchObject({ maxStagedBytes: 512 * 1024 * 1024, maxTransactionBytes: 64 * 1024 * 1024, idempotencyWindowMs: 86_400_000, recoveryMode: "auto" });
    expect(
      resolveConfig({ env: { STATEHOUSE_MAX_STAGED_BYTES: String(8 * 1024 * 1024), STATEHOUSE_IDEMPOTENCY_WINDOW_MS: "60000" }, cli: { recoveryMode: "accept-rollback" } }),
    ).toMatchObject({ maxStagedBytes: 8 * 1024 * 1024, idempotencyWindowMs: 60_000, recoveryMode: "accept-rollback" });
    const bad = configError(() => resolveConfig({ env: { STATEHOUSE_RECOVERY_MODE: "yolo" } }));
    expect(bad.setting).toBe("STATEHOUSE_RECOVERY_MODE");
    expect(bad.message).toContain("auto, rebuild, accept-rollback");
    expect(configError(() => resolveConfig({ env: { STATEHOUSE_MAX_TRANSACTION_BYTES: String(512 * 1024 * 1024) } })).setting).toBe("STATEHOUSE_MAX_TRANSACTION_BYTES");
  });

  it("accepts the original daemon's STATEHOUSE_ADDR as an alias of STATEHOUSE_LISTEN_ADDR (which wins)", () => {
    expect(resolveConfig({ env: { STATEHOUSE_ADDR: "0.0.0.0:6000" } }).listenAddr).toBe("0.0.0.0:6000");
    expect(envAliasesInUse({ STATEHOUSE_ADDR: "0.0.0.0:6000" })).toEqual([{ alias: "STATEHOUSE_ADDR", env: "STATEHOUSE_LISTEN_ADDR", ignored: false }]);
    const both = { STATEHOUSE_ADDR: "0.0.0.0:6000", STATEHOUSE_LISTEN_ADDR: "127.0.0.1:7000" };
    expect(resolveConfig({ env: both }).listenAddr).toBe("127.0.0.1:7000");
    expect(envAliasesInUse(both)).toEqual([{ alias: "STATEHOUSE_ADDR", env: "STATEHOUSE_LISTEN_ADDR", ignored: true }]);
    expect(resolveConfig({ env: { STATEHOUSE_ADDR: "0.0.0.0:6000" }, cli: { listenAddr: "127.0.0.1:1" } }).listenAddr).toBe("127.0.0.1:1");
    expect(envAliasesInUse({ STATEHOUSE_ADDR: "0.0.0.0:6000" }, { listenAddr: "127.0.0.1:1" })[0]?.ignored).toBe(true);
    expect(envAliasesInUse({})).toEqual([]);
    const bad = configError(() => resolveConfig({ env: { STATEHOUSE_ADDR: "nowhere" } }));
    expect(bad.message).toContain("STATEHOUSE_ADDR (environment, alias of STATEHOUSE_LISTEN_ADDR)");
  });

  it("reads STATEHOUSE_USE_MEMORY as the original daemon did: set means on, 0 and false mean off", () => {
    const useMemory = (value: string | undefined): boolean => resolveConfig({ env: { STATEHOUSE_USE_MEMORY: value } }).useMemory;
    for (const on of ["", "1", "yes", "true", "TRUE", "on", "anything"]) expect(useMemory(on), JSON.stringify(on)).toBe(true);
    for (const off of ["0", "false", "False", " 0 "]) expect(useMemory(off), JSON.stringify(off)).toBe(false);
    expect(useMemory(undefined)).toBe(false);
    expect(resolveConfig({ env: {}, cli: { useMemory: "0" } }).useMemory).toBe(false);
  });

  it("sizes the request limit from the value limit unless it is set", () => {
    expect(resolveConfig({ env: { STATEHOUSE_MAX_VALUE_BYTES: String(8 * 1024 * 1024) } }).maxRequestBytes).toBe(9 * 1024 * 1024);
  });

  it("every setting has an environment variable and a flag, documented in the README's table", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    for (const s of SETTINGS) {
      expect(s.env).toMatch(/^STATEHOUSE_[A-Z_]+$/);
      expect(s.flag).toMatch(/^--[a-z-]+$/);
      expect(readme).toContain(`| \`${s.env}\` | \`${s.flag}\` | \`${s.key}\` |`);
    }
  });
});

describe("security settings", () => {
  it("defaults to auth off, no TLS, no CORS origins and the per-key limits", () => {
    const c = resolveConfig({ env: {} });
    expect(c).toMatchObject({ authMode: "off", tlsCert: null, tlsKey: null, tlsClientCa: null, corsOrigins: [], allowedHosts: [], insecureAllowExposed: false, keyMaxOpenTransactions: 1000, keyMaxOpenStreams: 128 });
    expect(resolveConfig({ env: { STATEHOUSE_AUTH: "Required" } }).authMode).toBe("required");
    expect(() => resolveConfig({ env: { STATEHOUSE_AUTH: "on" } })).toThrow(/STATEHOUSE_AUTH.*off, optional, required/);
  });

  it("needs --tls-cert and --tls-key together, and TLS for --tls-client-ca", () => {
    expect(() => resolveConfig({ env: { STATEHOUSE_TLS_CERT: "c.pem" } })).toThrow(/--tls-cert .* and --tls-key .* go together/);
    expect(() => resolveConfig({ env: { STATEHOUSE_TLS_CLIENT_CA: "ca.pem" } })).toThrow(/needs --tls-cert/);
    expect(resolveConfig({ env: { STATEHOUSE_TLS_CERT: "c.pem", STATEHOUSE_TLS_KEY: "k.pem" }, cwd: "/etc/sh" })).toMatchObject({ tlsCert: "/etc/sh/c.pem", tlsKey: "/etc/sh/k.pem" });
  });

  it("validates --allowed-hosts", () => {
    expect(resolveConfig({ env: { STATEHOUSE_ALLOWED_HOSTS: "State.example.com, *.corp.example" } }).allowedHosts).toEqual(["state.example.com", "*.corp.example"]);
    expect(() => resolveConfig({ env: { STATEHOUSE_ALLOWED_HOSTS: "http://x" } })).toThrow(/not a host name/);
  });

  it("refuses a non-loopback address without both TLS and --auth required, unless --insecure-allow-exposed", () => {
    const tls = { STATEHOUSE_TLS_CERT: "c.pem", STATEHOUSE_TLS_KEY: "k.pem" };
    const problem = (env: Record<string, string>): string | null => exposureProblem(resolveConfig({ env }));
    expect(problem({})).toBeNull();
    expect(problem({ STATEHOUSE_LISTEN_ADDR: "127.0.0.2:1" })).toBeNull();
    expect(problem({ STATEHOUSE_LISTEN_ADDR: "[::1]:1" })).toBeNull();
    expect(problem({ STATEHOUSE_LISTEN_ADDR: "0.0.0.0:1" })).toMatch(/without TLS .* and authentication .*--insecure-allow-exposed/);
    expect(problem({ STATEHOUSE_LISTEN_ADDR: "0.0.0.0:1", STATEHOUSE_AUTH: "required" })).toMatch(/without TLS \(--tls-cert\/--tls-key\): /);
    expect(problem({ STATEHOUSE_LISTEN_ADDR: "10.1.2.3:1", STATEHOUSE_AUTH: "optional", ...tls })).toMatch(/without authentication/);
    expect(problem({ STATEHOUSE_LISTEN_ADDR: "[::]:1", STATEHOUSE_AUTH: "required", ...tls })).toBeNull();
    expect(problem({ STATEHOUSE_LISTEN_ADDR: "0.0.0.0:1", STATEHOUSE_INSECURE_ALLOW_EXPOSED: "1" })).toBeNull();
    expect(isLoopbackHost("localhost")).toBe(true);
    expect(isLoopbackHost("::ffff:127.0.0.1")).toBe(true);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
  });
});

describe("parseListenAddr", () => {
  it("binds both loopback addresses for localhost", () => {
    expect(parseListenAddr("localhost:50051")).toEqual({ hosts: ["127.0.0.1", "::1"], port: 50051 });
    expect(parseListenAddr("[::1]:0")).toEqual({ hosts: ["::1"], port: 0 });
    expect(parseListenAddr("0.0.0.0:8080")).toEqual({ hosts: ["0.0.0.0"], port: 8080 });
  });
});

describe("the statehoused process", () => {
  it("refuses to start on an invalid value, naming the setting, with exit code 2", async () => {
    const exit = await runDaemonToExit({ STATEHOUSE_USE_MEMORY: "1", STATEHOUSE_SNAPSHOT_INTERVAL: "often" });
    expect(exit.code).toBe(2);
    expect(exit.output).toContain("STATEHOUSE_SNAPSHOT_INTERVAL");
  });

  it("prints --help with every flag and its environment variable", async () => {
    const exit = await runDaemonToExit({}, ["--help"]);
    expect(exit.code).toBe(0);
    for (const s of SETTINGS) {
      expect(exit.output).toContain(s.flag);
      expect(exit.output.replace(/\s+/g, "")).toContain(s.env);
    }
  });

  it("starts with the original daemon's variables: STATEHOUSE_ADDR (logged) and an empty STATEHOUSE_USE_MEMORY", async () => {
    const readyFile = join(dir, "alias-ready.json");
    const run = spawnDaemon({ STATEHOUSE_ADDR: "127.0.0.1:0", STATEHOUSE_USE_MEMORY: "", STATEHOUSE_READY_FILE: readyFile, STATEHOUSE_LOG_LEVEL: "info" });
    try {
      let ready: string | null = null;
      let exit: unknown = null;
      void run.exited.then((e) => (exit = e));
      while (ready === null && exit === null) {
        ready = await readFile(readyFile, "utf8").catch(() => null);
        if (ready === null) await new Promise((r) => setTimeout(r, 25));
      }
      expect(exit, run.output).toBeNull();
      expect((JSON.parse(ready ?? "{}") as { address: string }).address).toMatch(/^127\.0\.0\.1:\d+$/);
      const logs = run.output
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(logs.find((l) => l["alias"] === "STATEHOUSE_ADDR")).toMatchObject({ env: "STATEHOUSE_LISTEN_ADDR", msg: expect.stringContaining("using STATEHOUSE_ADDR") as unknown });
      expect(logs.find((l) => String(l["msg"]).startsWith("storage ready"))).toMatchObject({ storage: "memory" });
    } finally {
      await run.kill();
    }
  });

  it("refuses to serve a non-loopback address unprotected, naming the flag that allows it, before binding", async () => {
    const exit = await runDaemonToExit({ STATEHOUSE_USE_MEMORY: "1" }, ["--listen-addr", "0.0.0.0:0"]);
    expect(exit.code).toBe(1);
    expect(exit.output).toContain("--insecure-allow-exposed");
    expect(exit.output).not.toContain('"msg":"listening"');
  });

  it("takes --auth (whose attribute name is not the setting's key) and a bare --insecure-allow-exposed", async () => {
    const daemon = await DaemonProcess.start({ env: { STATEHOUSE_USE_MEMORY: "1" }, args: ["--auth", "optional", "--insecure-allow-exposed"] });
    try {
      expect(daemon.logs().find((l) => l["msg"] === "listening")).toMatchObject({ auth: "optional", tls: false });
    } finally {
      await daemon.dispose();
    }
  });

  it("rejects unknown flags with exit code 2", async () => {
    const exit = await runDaemonToExit({}, ["--no-such-flag"]);
    expect(exit.code).toBe(2);
    expect(exit.output).toContain("--no-such-flag");
  });

  it("applies a config file and lets flags override it", async () => {
    const file = join(dir, "daemon.json");
    await writeFile(file, JSON.stringify({ useMemory: true, maxKeyBytes: 8, maxNameBytes: 4 }));
    const daemon = await DaemonProcess.start({ args: ["--config", file, "--max-name-bytes", "16"] });
    const rpc = new GrpcJsDriver(daemon.address);
    try {
      const key = await failure(rpc.unary(StatehouseService.method.getState, { namespace: "default", agentId: "agent", key: "123456789" }));
      expect(key.code).toBe(Code.ResourceExhausted);
      expect(key.detail?.details["limit"]).toBe("max_key_bytes");
      const ok = await rpc.unary(StatehouseService.method.getState, { namespace: "default", agentId: "sixteen-bytes-id", key: "k" });
      expect(ok.exists).toBe(false);
      expect(daemon.logs().find((l) => String(l["msg"]).startsWith("storage ready"))).toMatchObject({ storage: "memory" });
    } finally {
      rpc.close();
      await daemon.dispose();
    }
  });
});
