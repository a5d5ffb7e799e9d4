// The browser entry over HTTPS in a real browser: headless Chromium trusts a
// CA made at test time (added to its NSS database, test-support/chromium.ts),
// the page is served over HTTPS from another origin, and the daemon requires
// API keys (--auth required) and allows only that origin. The page's client
// sends its key; a refusal reaches the page as AuthenticationError (the
// daemon's CORS headers are on errors too), and a browser that does not
// trust the CA cannot connect at all (from a plain-HTTP page the daemon also
// allows, so that TLS is the only difference from the browser that does).
import { createServer as createHttpServer, type RequestListener } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type Chromium } from "@statehouse/test-services";
import { bundlePageScript } from "./test-support/chromium.js";
import { uniqueAgent } from "./test-support/daemon.js";
import { SecureDaemon, type TestKey } from "./test-support/secure-daemon.js";
import { TestCa } from "./test-support/test-ca.js";

type PageApi = {
  statehouseScenario: (url: string, protocol: string, agent: string, apiKey?: string) => Promise<Record<string, unknown>>;
  statehouseHealthOnly: (url: string, protocol: string, apiKey?: string) => Promise<Record<string, unknown>>;
};

let bundle: string;
let ca: TestCa;
let pages: Server;
let pageOrigin: string;
let plainPages: ReturnType<typeof createHttpServer>;
let plainOrigin: string;
let secure: SecureDaemon;
let writer: TestKey;
let trusting: Chromium;
let page: Page;

beforeAll(async () => {
  bundle = await bundlePageScript();
  ca = TestCa.create();
  const { cert, key } = ca.server();
  const servePage: RequestListener = (request, response) => {
    if (request.url === "/bundle.js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    } else {
      response.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><meta charset="utf-8"><script src="/bundle.js"></script>');
    }
  };
  pages = createServer({ cert, key }, servePage);
  plainPages = createHttpServer(servePage);
  await new Promise<void>((resolve) => pages.listen(0, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => plainPages.listen(0, "127.0.0.1", resolve));
  pageOrigin = `https://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  plainOrigin = `http://127.0.0.1:${(plainPages.address() as AddressInfo).port}`;
  secure = await SecureDaemon.start({ STATEHOUSE_CORS_ORIGINS: `${pageOrigin},${plainOrigin}` }, ca);
  writer = await secure.createKey("default", "write");
  trusting = await launchChromium({ trustCa: ca.caFile });
  page = trusting.context.pages()[0] ?? (await trusting.context.newPage());
  await page.goto(`${pageOrigin}/`);
}, 60_000);

afterAll(async () => {
  await trusting?.dispose();
  await new Promise<void>((resolve) => (pages === undefined ? resolve() : pages.close(() => resolve())));
  await new Promise<void>((resolve) => (plainPages === undefined ? resolve() : plainPages.close(() => resolve())));
  await secure?.dispose(); // disposes the CA too
});

describe("browser entry over HTTPS with an API key", () => {
  it("the page was served over TLS the browser verified against the test CA", async () => {
    expect(page.url()).toBe(`${pageOrigin}/`);
    expect(await page.evaluate(() => typeof (globalThis as unknown as Partial<PageApi>).statehouseScenario)).toBe("function");
  });

  it.each(["connect", "grpc-web"] as const)("%s: a transaction, reads, a replay and a watch, with the key", async (protocol) => {
    const agent = uniqueAgent(`https-${protocol}`);
    const result = await page.evaluate(
      ([url, proto, id, key]) => (globalThis as unknown as PageApi).statehouseScenario(url, proto, id, key),
      [secure.url, protocol, agent, writer.secret] as const,
    );
    expect(result).toMatchObject({
      protocol,
      health: "ok",
      existedBefore: false,
      state: { value: { n: 2, from: "browser" }, version: "2", exists: true },
      keys: ["counter"],
      error: { name: "NotFoundError", code: "VERSION_NOT_FOUND" },
      watched: result["secondTs"],
    });
    expect(result["replayed"]).toHaveLength(2);
  });

  it.each(["connect", "grpc-web"] as const)("%s: without a key, or with a wrong one, AuthenticationError", async (protocol) => {
    const refused = { name: "AuthenticationError", code: "UNAUTHENTICATED", isStatehouseError: true, isConnectionError: false };
    for (const key of [undefined, `${writer.secret.slice(0, -4)}AAAA`]) {
      const result = await page.evaluate(
        ([url, proto, apiKey]) => (globalThis as unknown as PageApi).statehouseHealthOnly(url, proto, apiKey),
        [secure.url, protocol, key] as const,
      );
      expect(result).toMatchObject({ error: refused });
    }
  });

  it("a browser that does not trust the test CA cannot reach the daemon (ConnectionError); one that does can", async () => {
    const healthFrom = async (target: Page): Promise<Record<string, unknown>> => {
      await target.goto(`${plainOrigin}/`);
      return target.evaluate(
        ([url, key]) => (globalThis as unknown as PageApi).statehouseHealthOnly(url, "connect", key),
        [secure.url, writer.secret] as const,
      );
    };
    expect(await healthFrom(page)).toEqual({ health: "ok" });
    const stranger = await launchChromium();
    try {
      const other = stranger.context.pages()[0] ?? (await stranger.context.newPage());
      expect(await healthFrom(other)).toMatchObject({ error: { name: "ConnectionError", code: "UNAVAILABLE" } });
    } finally {
      await stranger.dispose();
    }
  });
});
