// The Node entry against the real daemon with TLS, API keys required and mTLS
// (test-support/secure-daemon.ts: a CA made at test time), over every
// protocol and HTTP version the entry speaks; and the README's TLS example.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AuthenticationError, ConnectionError, PermissionDeniedError, Statehouse, type StatehouseOptions } from "./index.js";
import { uniqueAgent } from "./test-support/daemon.js";
import { consoleLogOf, readmeExample } from "./test-support/readme-example.js";
import { SecureDaemon, type TestKey } from "./test-support/secure-daemon.js";

let secure: SecureDaemon;
let writer: TestKey;

beforeAll(async () => {
  secure = await SecureDaemon.start();
  writer = await secure.createKey("team-a", "write");
}, 60_000);

afterAll(async () => {
  await secure?.dispose();
});

afterEach(() => {
  delete process.env["STATEHOUSE_API_KEY"];
});

const transports: [string, Pick<StatehouseOptions, "protocol" | "httpVersion">][] = [
  ["connect over HTTP/2", { protocol: "connect" }],
  ["connect over HTTP/1.1", { protocol: "connect", httpVersion: "1.1" }],
  ["grpc", { protocol: "grpc" }],
  ["grpc-web over HTTP/1.1", { protocol: "grpc-web", httpVersion: "1.1" }],
];

describe.each(transports)("%s over TLS", (_name, transport) => {
  it("a key with write on team-a commits, reads and replays there, and nowhere else", async () => {
    const agent = uniqueAgent("tls");
    await using client = new Statehouse({ url: secure.url, namespace: "team-a", apiKey: writer.secret, ca: secure.ca.caPem, ...transport });
    expect(await client.health()).toBe("ok");
    const { commitTs } = await client.withTransaction(async (tx) => {
      await tx.get(agent, "k");
      tx.write(agent, "k", { via: transport.protocol ?? "connect" });
    });
    expect((await client.getState(agent, "k")).value).toEqual({ via: transport.protocol ?? "connect" });
    const events = [];
    for await (const event of client.replay(agent)) events.push(event.commitTs);
    expect(events).toEqual([commitTs]);

    const denied = await client.getState(agent, "k", { namespace: "team-b" }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(PermissionDeniedError);
    expect(denied).toMatchObject({ code: "PERMISSION_DENIED", details: { namespace: "team-b", role: "read" } });
    await expect(client.transact([{ agentId: agent, key: "k", value: { v: 1 } }], { namespace: "team-b" })).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
  });

  it("no key is an AuthenticationError; a wrong one too", async () => {
    await using anonymous = new Statehouse({ url: secure.url, ca: secure.ca.caPem, ...transport });
    await expect(anonymous.getState("a", "k")).rejects.toBeInstanceOf(AuthenticationError);
    await using wrong = new Statehouse({ url: secure.url, ca: secure.ca.caPem, apiKey: `${writer.secret.slice(0, -4)}AAAA`, ...transport });
    const error = await wrong.getState("a", "k", { namespace: "team-a" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ code: "UNAUTHENTICATED", status: "UNAUTHENTICATED" });
  });

  it("a client certificate whose CN is a key id stands for that key (mTLS)", async () => {
    const reader = await secure.createKey("team-mtls", "read");
    const { cert, key } = secure.ca.client(reader.keyId);
    await using client = new Statehouse({ url: secure.url, namespace: "team-mtls", ca: secure.ca.caPem, cert, key, ...transport });
    expect((await client.getState("a", "k")).exists).toBe(false);
    await expect(client.transact([{ agentId: "a", key: "k", value: { v: 1 } }])).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it("without ca, the system CAs do not trust the test CA: ConnectionError", async () => {
    await using client = new Statehouse({ url: secure.url, apiKey: writer.secret, ...transport });
    await expect(client.health()).rejects.toBeInstanceOf(ConnectionError);
  });
});

it("STATEHOUSE_API_KEY is the key when none is given", async () => {
  process.env["STATEHOUSE_API_KEY"] = writer.secret;
  await using client = new Statehouse({ url: secure.url, namespace: "team-a", ca: secure.ca.caPem });
  expect((await client.getState("a", "k")).exists).toBe(false);
});

it("the README's TLS example runs and does what it says", async () => {
  const dir = await mkdtemp(join(tmpdir(), "statehouse-readme-tls-"));
  const file = join(dir, "example.mjs");
  const agent = uniqueAgent("readme-tls");
  const code = readmeExample("node-tls", {
    url: secure.url,
    urlInExample: "https://localhost:50443",
    agent,
    agentInExample: "agent-1",
    more: { '"ca.pem"': JSON.stringify(secure.ca.caFile) },
  });
  await writeFile(file, code);
  process.env["STATEHOUSE_API_KEY"] = writer.secret;
  const logged = await consoleLogOf(file).finally(() => rm(dir, { recursive: true, force: true }));
  expect(logged).toEqual([[{ fact: "keys work" }], ["PERMISSION_DENIED", { namespace: "team-b", role: "read" }]]);
});
