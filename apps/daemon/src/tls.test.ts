// TLS on the daemon's one port, against the real daemon with a throwaway CA
// made at test time (openssl): every transport over TLS (ALPN h2 and
// http/1.1) with a bearer key, client certificates standing for a key (mTLS),
// untrusted certificates refused, and certificate reload on SIGHUP without
// dropping open connections.
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import tls from "node:tls";
import { Code } from "@connectrpc/connect";
import { AuthService, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthFixture, type TestKey } from "./test-support/auth-fixture.js";
import { allDrivers, collect, failure, GrpcJsDriver } from "./test-support/rpc-drivers.js";
import { TestCa, type CertFiles } from "./test-support/test-ca.js";

const S = StatehouseService.method;
const A = AuthService.method;

let ca: TestCa;
let otherCa: TestCa;
let server: CertFiles;
let fx: AuthFixture;
let key: TestKey;

function tlsOf(client?: CertFiles): { ca: Buffer; cert?: Buffer; key?: Buffer } {
  return client === undefined ? { ca: ca.caPem } : { ca: ca.caPem, cert: readFileSync(client.cert), key: readFileSync(client.key) };
}

/** The serial number of the certificate a new TLS connection is shown. */
function servedSerial(address: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ca: ca.caPem, servername: "localhost", ALPNProtocols: ["h2"] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on("error", reject);
  });
}

beforeAll(async () => {
  ca = TestCa.create();
  otherCa = TestCa.create("not-trusted-ca");
  server = ca.server();
  fx = await AuthFixture.start({ args: ["--tls-cert", server.cert, "--tls-key", server.key, "--tls-client-ca", ca.caFile], tls: tlsOf() });
  key = await fx.createKey([["a", "write"]]);
});

afterAll(async () => {
  await fx.dispose();
  ca.dispose();
  otherCa.dispose();
});

describe("TLS", () => {
  it("serves every transport over TLS (h2 and http/1.1 by ALPN) with a bearer key", async () => {
    const drivers = fx.drivers({ token: key.token, tls: tlsOf() });
    expect(drivers.map((d) => d.name)).toEqual(["grpc-js", "connect-h2", "connect-http1.1", "connect-json-http1.1", "grpc-web-http1.1", "grpc-web-h2"]);
    for (const [i, rpc] of drivers.entries()) {
      await rpc.unary(S.transact, { operations: [{ namespace: "a", agentId: "tls", key: `k${i}`, value: { via: rpc.name } }] });
      expect((await rpc.unary(S.getState, { namespace: "a", agentId: "tls", key: `k${i}` })).value).toEqual({ via: rpc.name });
      expect((await collect(rpc.stream(S.replay, { namespace: "a", agentId: "tls" }))).length).toBe(i + 1);
      expect((await failure(rpc.unary(S.getState, { namespace: "b", agentId: "tls", key: "k" }))).code).toBe(Code.PermissionDenied);
    }
  });

  it("refuses cleartext on a TLS port", async () => {
    const plain = new GrpcJsDriver(fx.daemon.address);
    try {
      expect((await failure(plain.unary(S.health, {}, { timeoutMs: 3000 }))).code).toBe(Code.Unavailable);
    } finally {
      plain.close();
    }
  });
});

describe("mTLS", () => {
  it("a client certificate whose CN is a key id authenticates as that key, over every transport", async () => {
    const client = ca.client(key.keyId);
    for (const rpc of fx.drivers({ tls: tlsOf(client) })) {
      const who = await rpc.unary(A.whoAmI, {});
      expect(who.authenticated, rpc.name).toBe(true);
      expect(who.key?.keyId).toBe(key.keyId);
      await rpc.unary(S.getState, { namespace: "a", agentId: "tls", key: "k0" });
      expect((await failure(rpc.unary(S.getState, { namespace: "b", agentId: "tls", key: "k" }))).code).toBe(Code.PermissionDenied);
    }
  });

  it("refuses certificates of another CA, for unknown or revoked keys (UNAUTHENTICATED)", async () => {
    const revoked = await fx.createKey([["a", "read"]]);
    await fx.adminRpc.unary(A.revokeApiKey, { keyId: revoked.keyId });
    const cases: [CertFiles, { ca: Buffer; cert: Buffer; key: Buffer }["ca"], string][] = [
      [otherCa.client(key.keyId), ca.caPem, "untrusted_certificate"],
      [ca.client("not-a-key-id"), ca.caPem, "unknown_certificate_key"],
      [ca.client(revoked.keyId), ca.caPem, "revoked"],
    ];
    for (const [client, trust, reason] of cases) {
      for (const rpc of allDrivers(fx.daemon.address, { tls: { ca: trust, cert: readFileSync(client.cert), key: readFileSync(client.key) } }).slice(0, 3)) {
        const f = await failure(rpc.unary(S.getState, { namespace: "a", agentId: "tls", key: "k0" }));
        expect(f.code, `${rpc.name} ${reason}`).toBe(Code.Unauthenticated);
        expect(f.detail?.details["reason"]).toBe(reason);
        rpc.close();
      }
    }
  });
});

describe("SIGHUP", () => {
  it("reloads the certificate for new connections and keeps open ones", async () => {
    const before = await servedSerial(fx.daemon.address);
    const session = http2.connect(`https://${fx.daemon.address}`, { ca: ca.caPem });
    session.on("error", () => undefined); // reported through the requests below
    const get = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = session.request({ ":path": "/healthz" });
        req.on("response", (headers) => resolve(Number(headers[":status"])));
        req.on("error", reject);
        req.resume();
        req.end();
      });
    try {
      expect(await get()).toBe(200);
      const next = ca.server("server-2");
      writeFileSync(server.cert, readFileSync(next.cert));
      writeFileSync(server.key, readFileSync(next.key));
      const logged = fx.daemon.logs().length;
      process.kill(fx.daemon.pid, "SIGHUP");
      for (let i = 0; i < 200 && !fx.daemon.logs().slice(logged).some((l) => l["msg"] === "reloaded: TLS certificate and API keys"); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      const after = await servedSerial(fx.daemon.address);
      expect(after).not.toBe(before);
      expect(after).toBe(new X509Certificate(readFileSync(next.cert)).serialNumber);
      // The connection opened before the reload still serves.
      expect(session.closed).toBe(false);
      expect(await get()).toBe(200);
    } finally {
      session.close();
    }
  });
});
