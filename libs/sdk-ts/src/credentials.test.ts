// The API key on the client side, against a small Connect server standing in
// for an authenticating daemon (it records the Authorization header and
// refuses as the daemon's auth layer does). The real daemon with --auth
// required and TLS is in auth-tls.test.ts.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { StatehouseService } from "@statehouse/api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Statehouse as BrowserStatehouse } from "./browser.js";
import { AuthenticationError, PermissionDeniedError, Statehouse, StatehouseError } from "./index.js";

const KEY = "shk_abc123_s3cr3t-Value";
let server: Server;
let url: string;
const seen: (string | undefined)[] = [];

function check(header: Headers): void {
  const authorization = header.get("authorization") ?? undefined;
  seen.push(authorization);
  if (authorization !== `Bearer ${KEY}`) throw new ConnectError("missing or invalid API key", Code.Unauthenticated);
}

/** GetState needs KEY; Transact is denied to it (a read-only key). */
function routes(router: ConnectRouter): void {
  router.service(StatehouseService, {
    getState(_request, context) {
      check(context.requestHeader);
      return { exists: false };
    },
    transact(request, context) {
      check(context.requestHeader);
      throw new ConnectError(`write on ${request.operations[0]?.namespace} needed`, Code.PermissionDenied);
    },
  });
}

beforeAll(async () => {
  server = createServer(connectNodeAdapter({ routes }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

afterEach(() => {
  seen.length = 0;
  delete process.env["STATEHOUSE_API_KEY"];
});

describe("apiKey", () => {
  it("is sent as a bearer token on every call, and never shown", async () => {
    await using client = new Statehouse({ url, apiKey: KEY, httpVersion: "1.1" });
    await client.getState("a", "k");
    await client.getState("a", "k");
    expect(seen).toEqual([`Bearer ${KEY}`, `Bearer ${KEY}`]);
    expect(JSON.stringify(client)).not.toContain(KEY);
  });

  it("comes from STATEHOUSE_API_KEY when not given (Node entry); the option wins", async () => {
    process.env["STATEHOUSE_API_KEY"] = KEY;
    await using fromEnv = new Statehouse({ url, httpVersion: "1.1" });
    await fromEnv.getState("a", "k");
    await using given = new Statehouse({ url, apiKey: "shk_other", httpVersion: "1.1" });
    await expect(given.getState("a", "k")).rejects.toBeInstanceOf(AuthenticationError);
    expect(seen).toEqual([`Bearer ${KEY}`, "Bearer shk_other"]);
  });

  it("the browser entry sends it too (over fetch)", async () => {
    await using client = new BrowserStatehouse({ url, apiKey: KEY });
    await client.getState("a", "k");
    expect(seen).toEqual([`Bearer ${KEY}`]);
  });

  it("no key: no header, and the refusal is an AuthenticationError", async () => {
    await using client = new Statehouse({ url, httpVersion: "1.1" });
    const error = await client.getState("a", "k").catch((e: unknown) => e);
    expect(seen).toEqual([undefined]);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toBeInstanceOf(StatehouseError);
    expect(error).toMatchObject({ code: "UNAUTHENTICATED", status: "UNAUTHENTICATED", message: "missing or invalid API key" });
  });

  it("a missing role is a PermissionDeniedError, not retried by withTransaction", async () => {
    await using client = new Statehouse({ url, apiKey: KEY, httpVersion: "1.1", namespace: "team-b" });
    const error = await client
      .withTransaction((tx) => {
        tx.write("a", "k", { v: 1 });
        return Promise.resolve();
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error).toMatchObject({ code: "PERMISSION_DENIED" });
    expect(seen).toHaveLength(1);
  });

  it.each([
    ["", /printable ASCII/],
    ["shk_a b", /printable ASCII/],
    ["shk_a\r\nX-Injected: 1", /printable ASCII/],
    ["x".repeat(4097), /1 to 4096/],
  ])("a malformed key %j is a TypeError at construction", (apiKey, message) => {
    expect(() => new Statehouse({ apiKey })).toThrow(message);
    expect(() => new BrowserStatehouse({ apiKey })).toThrow(message);
  });

  it("a malformed STATEHOUSE_API_KEY names the variable", () => {
    process.env["STATEHOUSE_API_KEY"] = "two words";
    expect(() => new Statehouse({})).toThrow(/STATEHOUSE_API_KEY must be/);
  });
});

describe("TLS options", () => {
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

  it("need an https:// url", () => {
    expect(() => new Statehouse({ url: "http://127.0.0.1:1", ca: pem })).toThrow(/need an https:\/\/ url/);
  });

  it("cert and key go together, and must be PEM", () => {
    expect(() => new Statehouse({ url: "https://127.0.0.1:1", cert: pem })).toThrow(/cert and key go together/);
    expect(() => new Statehouse({ url: "https://127.0.0.1:1", ca: "not a certificate" })).toThrow(/ca must be PEM/);
  });

  it("the browser entry refuses them: the browser's own store decides", () => {
    expect(() => new BrowserStatehouse({ url: "https://127.0.0.1:1", ca: pem })).toThrow(/own certificate store/);
  });
});
