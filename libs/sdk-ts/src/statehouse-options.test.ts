// Constructor options of both entry points (no daemon needed: no call is made).
import { describe, expect, it } from "vitest";
import { Statehouse as BrowserStatehouse } from "./browser.js";
import { Statehouse as NodeStatehouse } from "./index.js";

describe.each([
  ["node", (o: ConstructorParameters<typeof NodeStatehouse>[0]) => new NodeStatehouse(o)],
  ["browser", (o: ConstructorParameters<typeof BrowserStatehouse>[0]) => new BrowserStatehouse(o)],
] as const)("%s entry", (_name, create) => {
  it("defaults: localhost:50051, namespace default, 1 MiB values, Connect", async () => {
    const client = create({});
    expect(client).toMatchObject({ url: "http://localhost:50051", namespace: "default", maxValueBytes: 1_048_576, protocol: "connect" });
    await client.close();
  });

  it("normalizes host:port and trailing slashes", async () => {
    await using a = create({ url: "127.0.0.1:9" });
    await using b = create({ url: "https://example.test:8443/api/" });
    expect(a.url).toBe("http://127.0.0.1:9");
    expect(b.url).toBe("https://example.test:8443/api");
  });

  it("rejects invalid options with TypeError", () => {
    expect(() => create({ url: "ftp://x" })).toThrow(TypeError);
    expect(() => create({ url: "http://" })).toThrow(TypeError);
    expect(() => create({ namespace: "" })).toThrow(TypeError);
    expect(() => create({ maxValueBytes: 0 })).toThrow(TypeError);
    expect(() => create({ protocol: "soap" as never })).toThrow(TypeError);
  });

  it("a closed client rejects calls with CLOSED", async () => {
    const client = create({ url: "127.0.0.1:9" });
    await client.close();
    await client.close();
    expect(client.closed).toBe(true);
    await expect(client.health()).rejects.toMatchObject({ name: "StatehouseError", code: "CLOSED" });
  });
});

it("the browser entry cannot speak plain gRPC", () => {
  expect(() => new BrowserStatehouse({ protocol: "grpc" })).toThrow(/browser entry/);
});

it("the Node entry rejects gRPC over HTTP/1.1", () => {
  expect(() => new NodeStatehouse({ protocol: "grpc", httpVersion: "1.1" })).toThrow(TypeError);
  expect(() => new NodeStatehouse({ httpVersion: "3" as never })).toThrow(TypeError);
});
