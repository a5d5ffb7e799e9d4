// Test helper for other packages' browser tests: a page server on a free
// loopback port, and `useBrowserPage`, which bundles a page, serves it and
// opens it in headless Chromium (chromium.ts) for a test file.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";
import type { Page } from "playwright-core";
import { bundleForBrowser } from "./bundle-for-browser.js";
import { launchChromium, type Chromium } from "@statehouse/test-services";

/** Serves a page at `/` that loads `script` as an ES module, on 127.0.0.1 and a free port. */
export async function servePage(script: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.url === "/page.js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(script);
    } else {
      response
        .writeHead(200, { "content-type": "text/html" })
        .end('<!doctype html><meta charset="utf-8"><title>statehouse</title><script type="module" src="/page.js"></script>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * For a test file: bundles `pageCode` for browsers (it must set
 * `globalThis.runInPage`), serves it, opens it in headless Chromium (all in
 * beforeAll) and returns `run(...args)`, which awaits
 * `globalThis.runInPage(...args)` in the page. Everything stops in afterAll.
 */
export function useBrowserPage(pageCode: string, resolveDir: string): { run(...args: string[]): Promise<unknown> } {
  let browser: Chromium | undefined;
  let page: Page | undefined;
  let server: { origin: string; close(): Promise<void> } | undefined;
  beforeAll(async () => {
    server = await servePage((await bundleForBrowser(pageCode, resolveDir)).text);
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${server.origin}/`);
    await page.waitForFunction("typeof globalThis.runInPage === 'function'");
  });
  afterAll(async () => {
    await browser?.dispose();
    await server?.close();
  });
  return {
    run(...args) {
      if (page === undefined) throw new Error("the browser page opens in beforeAll");
      return page.evaluate((a) => (globalThis as unknown as { runInPage: (...x: string[]) => Promise<unknown> }).runInPage(...a), args);
    },
  };
}
