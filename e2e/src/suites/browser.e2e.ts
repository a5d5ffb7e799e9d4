// The browser: a page bundled with esbuild from @statehouse/sdk's browser
// entry runs in headless Chromium (Debian's /usr/bin/chromium via
// playwright-core), served from another origin than the daemon (CORS). It
// writes, reads and replays; the daemon is SIGKILLed and restarted on the
// same port; the page's next call succeeds and sees every acknowledged write,
// and a transaction that was only staged when the daemon died is lost.
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { launchChromium, type Chromium } from "@statehouse/test-services";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import type { BrowserApi } from "../browser/page.js";
import { foldEvents } from "../check/agent-history.js";
import type { EventView, OpSpec, StateView } from "../drivers/protocol.js";
import { bundleBrowserPage } from "../harness/bundles.js";
import { DaemonHarness } from "../harness/daemon-harness.js";
import { Oracle } from "../harness/oracle.js";
import { chromiumBin } from "../harness/paths.js";
import { expectSigkilled } from "../test-support/scenario.js";
import { normalizeEvents, StoreModel } from "../test-support/store-model.js";

const AGENT = "browser-agent";

type PageOutcome<T> = { ok: true; result: T } | { ok: false; error: { class: string; code: string | null; message: string } };

let bundle: string;
let server: Server;
let pageOrigin: string;
let browser: Chromium | undefined;
let page: Page;

beforeAll(async () => {
  if (!existsSync(chromiumBin)) throw new Error(`${chromiumBin} is missing: apt-get install -y chromium (npm test installs it)`);
  bundle = await bundleBrowserPage();
  server = createServer((request, response) => {
    if (request.url === "/page.js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
      return;
    }
    response
      .writeHead(200, { "content-type": "text/html" })
      .end('<!doctype html><meta charset="utf-8"><title>statehouse e2e</title><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium({ executablePath: chromiumBin });
  const { context } = browser;
  page = context.pages()[0] ?? (await context.newPage());
});

afterAll(async () => {
  await browser?.dispose();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
});

/** Calls `globalThis.statehouseE2E[name](...args)` in the page. */
async function inPage<K extends Exclude<keyof BrowserApi, "init">>(
  name: K,
  ...args: Parameters<BrowserApi[K]>
): Promise<PageOutcome<unknown>> {
  return (await page.evaluate(
    ([fn, fnArgs]) => {
      const api = (globalThis as unknown as { statehouseE2E: Record<string, (...a: unknown[]) => unknown> }).statehouseE2E;
      const call = api[fn];
      if (call === undefined) throw new Error(`no page function ${fn}`);
      return call(...fnArgs);
    },
    [name, args] as [string, unknown[]],
  )) as PageOutcome<unknown>;
}

async function ok<T>(promise: Promise<PageOutcome<unknown>>): Promise<T> {
  const outcome = await promise;
  if (!outcome.ok) throw new Error(`page call failed: ${JSON.stringify(outcome.error)}`);
  return outcome.result as T;
}

it("the page is bundled from the SDK's browser entry, with nothing Node-only", () => {
  // esbuild marks each bundled module with a path comment.
  expect(bundle).toContain("libs/sdk-ts/src/browser/statehouse.ts");
  expect(bundle).toContain("@connectrpc/connect-web");
  expect(bundle).not.toMatch(/connect-node|node:http2|Http2SessionManager|sdk-ts\/src\/node\//);
});

describe.each(["connect", "grpc-web"] as const)("browser entry in headless Chromium (%s)", (protocol) => {
  it("the page's next call after a SIGKILL and restart succeeds and sees every acknowledged write", async () => {
    const harness = await DaemonHarness.create({ name: `browser-${protocol}`, env: { STATEHOUSE_CORS_ORIGINS: pageOrigin } });
    onTestFailed(() => {
      for (const run of harness.runs) console.log(`--- ${run.describe()} log tail ---\n${run.tail(30)}`);
    });
    try {
      await harness.start();
      const daemonOrigin = harness.url;
      expect(daemonOrigin, "the page and the daemon must be different origins").not.toBe(pageOrigin);
      await page.goto(`${pageOrigin}/`);
      await page.waitForFunction(() => "statehouseE2E" in globalThis);
      await page.evaluate(
        ([url, proto]) =>
          (globalThis as unknown as { statehouseE2E: BrowserApi }).statehouseE2E.init(url, proto),
        [daemonOrigin, protocol] as const,
      );
      const model = new StoreModel();
      const commitFromPage = async (ops: OpSpec[]): Promise<number> => {
        const { commit_ts } = await ok<{ commit_ts: number }>(inPage("txn", ops));
        model.apply(commit_ts, ops);
        return commit_ts;
      };
      const expectPageSees = async (): Promise<void> => {
        const { events } = await ok<{ events: EventView[] }>(inPage("replay", AGENT));
        expect(normalizeEvents(events)).toEqual(model.events(AGENT));
        expect(foldEvents(AGENT, events).problems).toEqual([]);
        for (const [key, want] of model.state(AGENT)) {
          expect(await ok<StateView>(inPage("get", AGENT, key)), `state of ${key}`).toEqual(want);
        }
      };

      expect(await ok(inPage("health"))).toBe("ok");
      await commitFromPage([
        { agent: AGENT, key: "dashboard", value: { uid: "b1", widgets: 3 } },
        { agent: AGENT, key: "note/seen", value: { uid: "b1" } },
      ]);
      const c2 = await commitFromPage([
        { agent: AGENT, key: "dashboard", value: { uid: "b2", widgets: 4 } },
        { agent: AGENT, key: "note/seen", value: null },
      ]);
      await expectPageSees();

      // A transaction staged in the page when the daemon dies is lost.
      const { handle } = await ok<{ handle: number }>(
        inPage("stage", [{ agent: AGENT, key: "dashboard", value: { uid: "b-lost", widgets: 99 } }]),
      );
      expectSigkilled(await harness.kill());
      const whileDown = await inPage("commitStaged", handle);
      expect(whileDown.ok ? "ok" : whileDown.error.class).toBe("ConnectionError");

      const run = await harness.start();
      expect(run.readyInfo?.commitTs).toBe(BigInt(c2));
      // The page's next call, on the same client, succeeds and sees every acknowledged write.
      await expectPageSees();
      const c3 = await commitFromPage([{ agent: AGENT, key: "dashboard", value: { uid: "b3", widgets: 5 } }]);
      expect(c3).toBeGreaterThan(c2);
      await expectPageSees();

      // An independent reader agrees with what the page sees.
      const oracle = new Oracle(harness.url);
      try {
        expect(normalizeEvents(await oracle.replay(AGENT))).toEqual(model.events(AGENT));
      } finally {
        oracle.close();
      }
    } finally {
      await harness.dispose();
    }
  });
});
