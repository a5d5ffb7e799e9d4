// The browser entry in a real browser: a page bundled with esbuild from
// "@statehouse/sdk" (browser condition) runs in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), served from another origin
// than the daemon, so every call is a CORS request. The daemon allows only
// that page's origin; the same page on a second origin must be refused.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleForBrowser } from "./test-support/bundle-for-browser.js";
import { DaemonProcess, launchChromium, type Chromium } from "@statehouse/test-services";
import { bundlePageScript, PAGE_SCRIPT } from "./test-support/chromium.js";
import { uniqueAgent } from "./test-support/daemon.js";
import { readmeExample } from "./test-support/readme-example.js";

let bundle: string;
let readmeBundle: string;
const readmeAgent = uniqueAgent("readme-browser");
let daemon: DaemonProcess;
let allowed: Server;
let refused: Server;
let browser: Chromium;
let page: Page;

function serve(): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === "/bundle.js" || request.url === "/readme.js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(request.url === "/bundle.js" ? bundle : readmeBundle);
    } else if (request.url === "/readme.html") {
      response
        .writeHead(200, { "content-type": "text/html" })
        .end('<!doctype html><meta charset="utf-8"><title>readme</title><body><script type="module" src="/readme.js"></script></body>');
    } else {
      response
        .writeHead(200, { "content-type": "text/html" })
        .end('<!doctype html><meta charset="utf-8"><title>statehouse</title><script src="/bundle.js"></script>');
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function origin(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
}

beforeAll(async () => {
  bundle = await bundlePageScript();
  allowed = await serve();
  refused = await serve();
  daemon = await DaemonProcess.start({ env: { STATEHOUSE_CORS_ORIGINS: origin(allowed) } });
  const readme = readmeExample("browser", { url: daemon.url, agent: readmeAgent, agentInExample: "dashboard" });
  readmeBundle = (await bundleForBrowser(readme, dirname(PAGE_SCRIPT))).text;
  browser = await launchChromium();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
});

afterAll(async () => {
  await browser?.dispose();
  await close(allowed);
  await close(refused);
  await daemon?.dispose();
});

describe("browser entry in headless Chromium", () => {
  it("bundles without anything Node-only", () => {
    expect(bundle.length).toBeGreaterThan(0);
    // esbuild marks each bundled module with a path comment.
    expect(bundle).toContain("src/browser/statehouse.ts");
    expect(bundle).toContain("@connectrpc/connect-web");
    expect(bundle).not.toMatch(/connect-node|node:http2|Http2SessionManager|src\/node\//);
  });

  it.each(["connect", "grpc-web"] as const)(
    "%s: a transaction, reads, an error and a streamed replay, across origins",
    async (protocol) => {
      await page.goto(`${origin(allowed)}/`);
      const agent = uniqueAgent(`browser-${protocol}`);
      const result = (await page.evaluate(
        ([url, proto, id]) =>
          (globalThis as unknown as { statehouseScenario: (u: string, p: string, a: string) => Promise<unknown> }).statehouseScenario(
            url,
            proto,
            id,
          ),
        [daemon.url, protocol, agent] as const,
      )) as Record<string, unknown>;

      const firstTs = result["firstTs"] as string;
      const secondTs = result["secondTs"] as string;
      expect(BigInt(secondTs)).toBeGreaterThan(BigInt(firstTs));
      expect(result).toMatchObject({
        protocol,
        health: "ok",
        existedBefore: false,
        state: { value: { n: 2, from: "browser" }, version: "2", commitTs: secondTs, exists: true },
        firstVersion: { n: 1, from: "browser" },
        keys: ["counter"],
        scanned: ["counter"],
        error: { name: "NotFoundError", code: "VERSION_NOT_FOUND", isStatehouseError: true, isNotFoundError: true },
        watched: secondTs,
      });
      expect(result["replayed"]).toEqual([
        {
          commitTs: firstTs,
          committedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          operations: expect.arrayContaining([
            { key: "counter", value: { n: 1, from: "browser" }, version: "1" },
            { key: "note/hello", value: { text: "hi from chromium" }, version: "1" },
          ]),
        },
        {
          commitTs: secondTs,
          committedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          operations: expect.arrayContaining([
            { key: "counter", value: { n: 2, from: "browser" }, version: "2" },
            { key: "note/hello", value: null, version: "2" },
          ]),
        },
      ]);

      // The daemon's data as seen from Node agrees with what the page wrote.
      const response = await fetch(`${daemon.url}/statehouse.v1.StatehouseService/GetState`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ namespace: "default", agentId: agent, key: "counter" }),
      });
      expect(await response.json()).toMatchObject({ value: { n: 2, from: "browser" }, version: "2" });
    },
  );

  it.each(["connect", "grpc-web"] as const)("%s: an origin the daemon does not allow gets ConnectionError", async (protocol) => {
    await page.goto(`${origin(refused)}/`);
    const result = await page.evaluate(
      ([url, proto]) =>
        (globalThis as unknown as { statehouseHealthOnly: (u: string, p: string) => Promise<unknown> }).statehouseHealthOnly(url, proto),
      [daemon.url, protocol] as const,
    );
    expect(result).toEqual({
      error: { name: "ConnectionError", code: "UNAVAILABLE", isStatehouseError: true, isNotFoundError: false, isConnectionError: true },
    });
  });

  it("the README's browser example runs", async () => {
    await page.goto(`${origin(allowed)}/readme.html`);
    await page.waitForFunction('document.querySelector("pre")?.textContent?.includes("event ")', undefined, { timeout: 20_000 });
    const text = (await page.textContent("pre")) ?? "";
    const commitTs = /committed at (\d+)/.exec(text)?.[1];
    expect(commitTs).toBeDefined();
    expect(text).toBe(`committed at ${commitTs}\nno version 999 (VERSION_NOT_FOUND)\nevent ${commitTs}: 1 operation(s)\n`);
  });
});
