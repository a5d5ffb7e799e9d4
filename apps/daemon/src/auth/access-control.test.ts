// Authentication and namespace authorization against the real daemon
// (--auth required, RocksDB in a temp dir), over every transport the daemon
// serves: the role x RPC matrix (allowed and denied), namespace isolation,
// transaction ownership, revoked and rotated keys. The daemon test target
// runs this file with the fast path on and off.
import { Code } from "@connectrpc/connect";
import { AuthService, ErrorCode, GrpcHealth, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthFixture, type TestKey } from "../test-support/auth-fixture.js";
import { collect, failure, type RpcDriver } from "../test-support/rpc-drivers.js";

const S = StatehouseService.method;
const A = AuthService.method;
const DRIVERS = ["grpc-js", "connect-h2c", "connect-http1.1", "connect-json-http1.1", "grpc-web-http1.1", "grpc-web-h2c"];

let fx: AuthFixture;
let keys: Record<"readA" | "writeA" | "writeB" | "teamWrite" | "none", TestKey>;
let seedTs: bigint;

beforeAll(async () => {
  fx = await AuthFixture.start();
  keys = {
    readA: await fx.createKey([["a", "read"]]),
    writeA: await fx.createKey([["a", "write"]]),
    writeB: await fx.createKey([["b", "write"]]),
    teamWrite: await fx.createKey([["team-*", "write"]]),
    none: await fx.createKey([]),
  };
  await fx.adminRpc.unary(S.transact, { operations: [{ namespace: "a", agentId: "ag", key: "k", value: { v: 1 } }] });
  seedTs = (await fx.adminRpc.unary(S.transact, { operations: [{ namespace: "b", agentId: "ag", key: "secret", value: { v: 2 } }] })).commitTs;
});

afterAll(async () => {
  await fx.dispose();
});

function driver(drivers: RpcDriver[], name: string): RpcDriver {
  const d = drivers.find((x) => x.name === name);
  if (d === undefined) throw new Error(`no driver ${name}`);
  return d;
}

async function firstOf<T>(stream: (signal: AbortSignal) => AsyncIterable<T>): Promise<T | undefined> {
  const controller = new AbortController();
  try {
    for await (const item of stream(controller.signal)) return item;
    return undefined;
  } finally {
    controller.abort();
  }
}

interface Case {
  rpc: string;
  /** The role and namespace the call needs; null: any valid key. "" namespace: a role on some namespace. */
  needs: { role: "read" | "write" | "admin"; namespace: string } | null;
  /** The namespaces a denial may name, when not just needs.namespace. */
  deniedNamespaces?: string[];
  call(rpc: RpcDriver): Promise<unknown>;
}

const ref = { namespace: "a", agentId: "ag", key: "k" };
const CASES: Case[] = [
  { rpc: "Health", needs: null, call: (r) => r.unary(S.health, {}) },
  { rpc: "Version", needs: null, call: (r) => r.unary(S.version, {}) },
  { rpc: "grpc.health.v1 Check", needs: null, call: (r) => r.unary(GrpcHealth.method.check, {}) },
  { rpc: "WhoAmI", needs: null, call: (r) => r.unary(A.whoAmI, {}) },
  { rpc: "GetState", needs: { role: "read", namespace: "a" }, call: (r) => r.unary(S.getState, ref) },
  { rpc: "GetStateAtVersion", needs: { role: "read", namespace: "a" }, call: (r) => r.unary(S.getStateAtVersion, { ...ref, version: 1n }) },
  { rpc: "GetStateAsOf", needs: { role: "read", namespace: "a" }, call: (r) => r.unary(S.getStateAsOf, { namespace: "a", agentId: "ag", commitTs: seedTs }) },
  { rpc: "ListKeys", needs: { role: "read", namespace: "a" }, call: (r) => r.unary(S.listKeys, { namespace: "a", agentId: "ag" }) },
  { rpc: "ScanPrefix", needs: { role: "read", namespace: "a" }, call: (r) => r.unary(S.scanPrefix, { namespace: "a", agentId: "ag", prefix: "" }) },
  { rpc: "Replay", needs: { role: "read", namespace: "a" }, call: (r) => collect(r.stream(S.replay, { namespace: "a", agentId: "ag" })) },
  { rpc: "ReplayBatches", needs: { role: "read", namespace: "a" }, call: (r) => collect(r.stream(S.replayBatches, { namespace: "a", agentId: "ag" })) },
  { rpc: "Watch", needs: { role: "read", namespace: "a" }, call: (r) => firstOf((signal) => r.stream(S.watch, { namespace: "a", agentId: "ag", startTs: 1n }, { signal })) },
  { rpc: "WatchBatches", needs: { role: "read", namespace: "a" }, call: (r) => firstOf((signal) => r.stream(S.watchBatches, { namespace: "a", agentId: "ag", startTs: 1n }, { signal })) },
  { rpc: "ListAgents", needs: { role: "read", namespace: "a" }, call: (r) => r.unary(S.listAgents, { namespace: "a" }) },
  { rpc: "ListNamespaces", needs: { role: "read", namespace: "" }, call: (r) => r.unary(S.listNamespaces, {}) },
  { rpc: "GetDaemonStatus", needs: null, call: (r) => r.unary(S.getDaemonStatus, {}) },
  { rpc: "Transact", needs: { role: "write", namespace: "a" }, call: (r) => r.unary(S.transact, { operations: [{ ...ref, key: "t", value: { x: 1 } }] }) },
  { rpc: "BeginTransaction", needs: { role: "write", namespace: "" }, call: async (r) => r.unary(S.abort, { txnId: (await r.unary(S.beginTransaction, {})).txnId }) },
  // Denied at BeginTransaction (namespace "") without any write role, at Write (namespace "a") with write elsewhere.
  { rpc: "Write+Commit", needs: { role: "write", namespace: "a" }, deniedNamespaces: ["", "a"], call: async (r) => {
    const { txnId } = await r.unary(S.beginTransaction, {});
    await r.unary(S.write, { txnId, ...ref, key: "w", value: { y: 1 } });
    await r.unary(S.delete, { txnId, ...ref, key: "w2" });
    return r.unary(S.commit, { txnId });
  } },
  { rpc: "Write (no txn)", needs: { role: "write", namespace: "a" }, call: (r) => r.unary(S.write, { txnId: "no-such-txn", ...ref, value: {} }).catch((e: unknown) => {
    // Allowed: the engine's own answer for an unknown transaction.
    if ((e as { code?: unknown }).code === Code.NotFound || (e as { code?: unknown }).code === 5) return null;
    throw e;
  }) },
  { rpc: "CreateApiKey", needs: { role: "admin", namespace: "*" }, call: (r) => r.unary(A.createApiKey, { name: "made-in-matrix", grants: [] }) },
  { rpc: "ListApiKeys", needs: { role: "admin", namespace: "*" }, call: (r) => r.unary(A.listApiKeys, {}) },
  { rpc: "RevokeApiKey", needs: { role: "admin", namespace: "*" }, call: (r) => r.unary(A.revokeApiKey, { keyId: "aaaaaaaaaaaaaaaa" }).catch((e: unknown) => {
    if ((e as { code?: unknown }).code === Code.NotFound || (e as { code?: unknown }).code === 5) return null;
    throw e;
  }) },
];

const GRANTS: Record<string, readonly (readonly [string, "read" | "write" | "admin"])[]> = {
  readA: [["a", "read"]],
  writeA: [["a", "write"]],
  writeB: [["b", "write"]],
  teamWrite: [["team-*", "write"]],
  none: [],
  admin: [["*", "admin"]],
};
const RANK = { read: 0, write: 1, admin: 2 };

function allowed(keyName: string, needs: Case["needs"]): boolean {
  if (needs === null) return true;
  return (GRANTS[keyName] ?? []).some(([pattern, role]) => {
    if (RANK[role] < RANK[needs.role]) return false;
    if (needs.namespace === "") return true;
    if (pattern === "*") return true;
    if (needs.namespace === "*") return false;
    return pattern.endsWith("*") ? needs.namespace.startsWith(pattern.slice(0, -1)) : pattern === needs.namespace;
  });
}

describe.each(DRIVERS)("over %s", (name) => {
  it("refuses calls without a credential with UNAUTHENTICATED, except the public ones", async () => {
    const anon = driver(fx.drivers({}), name);
    const f = await failure(anon.unary(S.getState, ref));
    expect(f.code).toBe(Code.Unauthenticated);
    expect(f.detail?.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect((await failure(anon.unary(S.transact, { operations: [{ ...ref, value: {} }] }))).code).toBe(Code.Unauthenticated);
    expect((await failure(collect(anon.stream(S.replay, { namespace: "a", agentId: "ag" })))).code).toBe(Code.Unauthenticated);
    expect((await anon.unary(GrpcHealth.method.check, {})).status).toBe(1);
    const who = await anon.unary(A.whoAmI, {});
    expect(who.authenticated).toBe(false);
    expect(who.authMode).toBe("required");
  });

  it.each(["readA", "writeA", "writeB", "teamWrite", "none", "admin"])("role x RPC matrix for key %s", async (keyName) => {
    const token = keyName === "admin" ? fx.admin.token : keys[keyName as keyof typeof keys].token;
    const rpc = driver(fx.drivers({ token }), name);
    for (const c of CASES) {
      if (allowed(keyName, c.needs)) {
        await expect(c.call(rpc), `${c.rpc} must be allowed for ${keyName}`).resolves.not.toThrow();
      } else {
        const f = await failure(c.call(rpc));
        expect(f.code, `${c.rpc} must be denied for ${keyName}`).toBe(Code.PermissionDenied);
        expect(f.detail?.code).toBe(ErrorCode.PERMISSION_DENIED);
        expect(f.detail?.details["role"]).toBe(c.needs?.role);
        expect(c.deniedNamespaces ?? [c.needs?.namespace]).toContain(f.detail?.details["namespace"]);
      }
    }
  });

  it("isolates namespace b from a key for a: reads, lists, scans, replays, watches, transactions, idempotency keys", async () => {
    const rpc = driver(fx.drivers({ token: keys.writeA.token }), name);
    const b = { namespace: "b", agentId: "ag" };
    const denied = [
      () => rpc.unary(S.getState, { ...b, key: "secret" }),
      () => rpc.unary(S.getStateAtVersion, { ...b, key: "secret", version: 1n }),
      () => rpc.unary(S.getStateAsOf, { ...b, commitTs: seedTs }),
      () => rpc.unary(S.listKeys, b),
      () => rpc.unary(S.scanPrefix, { ...b, prefix: "" }),
      () => collect(rpc.stream(S.replay, b)),
      () => collect(rpc.stream(S.replayBatches, b)),
      () => collect(rpc.stream(S.watch, { ...b, startTs: 1n })),
      () => rpc.unary(S.transact, { operations: [{ ...b, key: "x", value: {} }] }),
      // Mixed: write on a is not enough.
      () => rpc.unary(S.transact, { operations: [{ ...ref, key: "mixed", value: {} }, { ...b, key: "mixed", value: {} }] }),
      () => rpc.unary(S.transact, { operations: [{ ...ref, key: "mixed", value: {} }], preconditions: [{ ...b, key: "secret", mustNotExist: true }] }),
    ];
    for (const call of denied) {
      const f = await failure(call());
      expect(f.code).toBe(Code.PermissionDenied);
      expect(f.detail?.details).toEqual({ namespace: "b", role: expect.stringMatching(/^(read|write)$/) as unknown });
    }
    // The mixed transaction left nothing in a.
    expect((await rpc.unary(S.getState, { ...ref, key: "mixed" })).exists).toBe(false);
    // A key that exists in b and one that does not are refused alike: nothing about b leaks.
    const existing = await failure(rpc.unary(S.getState, { ...b, key: "secret" }));
    const missing = await failure(rpc.unary(S.getState, { ...b, key: "never-written" }));
    expect(existing).toEqual(missing);
    // The idempotency key used in b is not seen from a: a's commit is applied, not a duplicate of b's.
    const inB = await fx.adminRpc.unary(S.transact, { operations: [{ ...b, key: "idem", value: { theirs: true } }], idempotencyKey: `idem-${name}` });
    const inA = await rpc.unary(S.transact, { operations: [{ ...ref, key: "idem", value: { mine: true } }], idempotencyKey: `idem-${name}` });
    expect(inA.duplicate).toBe(false);
    expect(inA.commitTs).not.toBe(inB.commitTs);
    // A server-side transaction cannot write into b either.
    const { txnId } = await rpc.unary(S.beginTransaction, {});
    expect((await failure(rpc.unary(S.write, { txnId, ...b, key: "x", value: {} }))).code).toBe(Code.PermissionDenied);
    await rpc.unary(S.abort, { txnId });
  });

  it("ListNamespaces answers only the namespaces the key may read; ListAgents of another namespace is denied", async () => {
    const names = async (token: string): Promise<string[]> => {
      const rpc = driver(fx.drivers({ token }), name);
      return (await rpc.unary(S.listNamespaces, {})).namespaces.map((n) => n.namespace);
    };
    expect(await names(keys.readA.token)).toEqual(["a"]);
    expect(await names(keys.writeB.token)).toEqual(["b"]);
    expect(await names(keys.teamWrite.token)).toEqual([]);
    expect(await names(fx.admin.token)).toEqual(expect.arrayContaining(["a", "b"]));
    const f = await failure(driver(fx.drivers({ token: keys.readA.token }), name).unary(S.listAgents, { namespace: "b" }));
    expect([f.code, f.detail?.details["namespace"]]).toEqual([Code.PermissionDenied, "b"]);
  });

  it("keeps another key's server-side transaction out of reach (TXN_NOT_FOUND, as an unknown one)", async () => {
    const other = driver(fx.drivers({ token: keys.writeB.token }), name);
    const rpc = driver(fx.drivers({ token: keys.writeA.token }), name);
    const { txnId } = await other.unary(S.beginTransaction, {});
    const unknownTxn = await failure(rpc.unary(S.commit, { txnId: "00000000-0000-0000-0000-000000000000" }));
    for (const call of [
      () => rpc.unary(S.write, { txnId, ...ref, value: {} }),
      () => rpc.unary(S.commit, { txnId }),
      () => rpc.unary(S.abort, { txnId }),
      () => rpc.unary(S.transact, { txnId, operations: [{ ...ref, value: {} }] }),
    ]) {
      const f = await failure(call());
      expect(f.code).toBe(unknownTxn.code);
      expect(f.detail?.code).toBe(ErrorCode.TXN_NOT_FOUND);
    }
    // Still usable by its owner.
    await other.unary(S.write, { txnId, namespace: "b", agentId: "ag", key: "owned", value: {} });
    await other.unary(S.commit, { txnId });
  });
});

describe("key lifecycle", () => {
  it("a revoked key is refused at its next call, without a restart", async () => {
    const key = await fx.createKey([["a", "read"]]);
    const rpc = driver(fx.drivers({ token: key.token }), "connect-h2c");
    await rpc.unary(S.getState, ref);
    const revoked = await fx.adminRpc.unary(A.revokeApiKey, { keyId: key.keyId });
    expect(revoked.key?.revokedAtMs).toBeDefined();
    const f = await failure(rpc.unary(S.getState, ref));
    expect(f.code).toBe(Code.Unauthenticated);
    expect(f.detail?.details["reason"]).toBe("revoked");
    const listed = await fx.adminRpc.unary(A.listApiKeys, {});
    expect(listed.keys.map((k) => k.keyId)).not.toContain(key.keyId);
    expect((await fx.adminRpc.unary(A.listApiKeys, { includeRevoked: true })).keys.map((k) => k.keyId)).toContain(key.keyId);
  });

  it("an open Watch of a key revoked meanwhile ends with UNAUTHENTICATED before its next event", async () => {
    for (const name of ["grpc-js", "connect-h2c", "connect-http1.1"]) {
      const key = await fx.createKey([["a", "read"]]);
      const rpc = driver(fx.drivers({ token: key.token }), name);
      const seen: string[] = [];
      const watching = (async () => {
        for await (const event of rpc.stream(S.watch, { namespace: "a", agentId: "revoked-watch" })) seen.push(event.operations[0]?.key ?? "");
      })();
      const ended = failure(watching); // handled from the start: the stream may end before it is awaited
      await new Promise((r) => setTimeout(r, 200)); // the Watch is open
      await fx.adminRpc.unary(S.transact, { operations: [{ namespace: "a", agentId: "revoked-watch", key: name, value: { before: true } }] });
      for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(seen).toEqual([name]);
      await fx.adminRpc.unary(A.revokeApiKey, { keyId: key.keyId });
      await fx.adminRpc.unary(S.transact, { operations: [{ namespace: "a", agentId: "revoked-watch", key: `${name}-2`, value: { after: true } }] });
      const f = await ended;
      expect(seen).toEqual([name]);
      expect(f.code, name).toBe(Code.Unauthenticated);
      expect(f.detail?.details["reason"]).toBe("revoked");
    }
  });

  it("rotation: the new secret works at once; the old one stops at once, or after its grace period", async () => {
    const key = await fx.createKey([["a", "read"]]);
    const rotated = await fx.adminRpc.unary(A.rotateApiKey, { keyId: key.keyId, gracePeriodMs: 0n });
    expect(rotated.key?.keyId).toBe(key.keyId);
    expect(rotated.secret).not.toBe(key.token);
    const [oldRpc, newRpc] = [driver(fx.drivers({ token: key.token }), "grpc-js"), driver(fx.drivers({ token: rotated.secret }), "grpc-js")];
    expect((await failure(oldRpc.unary(S.getState, ref))).code).toBe(Code.Unauthenticated);
    await newRpc.unary(S.getState, ref);
    const graced = await fx.adminRpc.unary(A.rotateApiKey, { keyId: key.keyId, gracePeriodMs: 600_000n });
    await newRpc.unary(S.getState, ref); // the previous secret, in its grace period
    await driver(fx.drivers({ token: graced.secret }), "grpc-js").unary(S.getState, ref);
    const who = await newRpc.unary(A.whoAmI, {});
    expect(who.key?.keyId).toBe(key.keyId);
    expect(who.key?.rotatedAtMs).toBeDefined();
  });

  it("validates CreateApiKey: namespace patterns and roles", async () => {
    for (const grants of [[{ namespacePattern: "", role: 1 }], [{ namespacePattern: "a*b", role: 1 }], [{ namespacePattern: "a", role: 0 }]]) {
      const f = await failure(fx.adminRpc.unary(A.createApiKey, { name: "bad", grants }));
      expect(f.code).toBe(Code.InvalidArgument);
      expect(f.detail?.details["field"]).toMatch(/^grants\[0\]\./);
    }
  });

  it("stores only hashes: no secret appears in the key file or in the daemon's output", async () => {
    const { readFile } = await import("node:fs/promises");
    const file = await readFile(`${fx.daemon.dataDir}/auth/api-keys.json`, "utf8");
    for (const key of [fx.admin, ...Object.values(keys)]) {
      const secret = key.token.slice(21);
      expect(file).not.toContain(secret);
      expect(fx.daemon.output).not.toContain(secret);
      expect(file).toContain(key.keyId);
    }
    const audit = fx.daemon.logs().filter((l) => l["component"] === "audit");
    expect(audit.some((l) => l["audit"] === "permission_denied" && typeof l["keyId"] === "string")).toBe(true);
    expect(audit.some((l) => l["audit"] === "auth_failure")).toBe(true);
    expect(audit.some((l) => l["audit"] === "api_key_created" && l["actor"] === fx.admin.keyId)).toBe(true);
    expect(audit.some((l) => l["audit"] === "admin_call" && l["procedure"] === "statehouse.v1.AuthService/ListApiKeys")).toBe(true);
  });
});
