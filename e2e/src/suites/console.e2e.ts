// The web console (apps/console) in headless Chromium against the real daemon, which serves
// it at /console from a fresh build: every view loads and shows the seeded data, deep links
// and the keyboard work, the live timeline shows a commit made from Python within a second,
// time travel shows the state at an earlier commit_ts, a SIGKILL shows the outage and the
// page recovers by itself after the restart (no reload), and 100k events and 10k keys stay
// virtualized. Screenshots of each view land in apps/console/test-results/screenshots.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, type Chromium } from "@statehouse/test-services";
import type { Page } from "playwright-core";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, RetentionKind, RetentionService, Role } from "@statehouse/api";
import { openEngine } from "@statehouse/engine";
import { Statehouse } from "@statehouse/sdk";
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from "vitest";
import { DaemonHarness } from "../harness/daemon-harness.js";
import { chromiumBin, consoleBuildScript, consoleScreenshotDir, nodeBin, pythonBin } from "../harness/paths.js";

const NS = "shop";
const EVENTS = 100_000;
const AGENT = "planner";

let assets: string;
let harness: DaemonHarness;
let client: Statehouse;
let browser: Chromium | undefined;
let page: Page;
/** commit_ts of each seeded planner commit, in order. */
const planner: bigint[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(consoleScreenshotDir, `${name}.png`), fullPage: true });
}

async function open(path: string): Promise<void> {
  await page.goto(`${harness.url}/console${path}`);
}

const view = (testId: string) => page.getByTestId(testId);

beforeAll(async () => {
  if (!existsSync(chromiumBin)) throw new Error(`${chromiumBin} is missing: apt-get install -y chromium (npm test installs it)`);
  assets = await mkdtemp(join(tmpdir(), "statehouse-console-assets-"));
  execFileSync(nodeBin, [consoleBuildScript, assets], { stdio: "pipe" });
  await mkdir(consoleScreenshotDir, { recursive: true });
  harness = await DaemonHarness.create({ name: "console", env: { STATEHOUSE_CONSOLE_DIR: assets } });
  await harness.start();
  client = new Statehouse({ url: harness.url, namespace: NS });
  const commit = async (ops: Parameters<Statehouse["transact"]>[0]): Promise<bigint> => (await client.transact(ops)).commitTs;
  planner.push(await commit([{ agentId: AGENT, key: "plan", value: { step: 1, goal: "book a flight" } }, { agentId: AGENT, key: "tool/search", value: { query: "flights to Lisbon" } }]));
  planner.push(await commit([{ agentId: AGENT, key: "plan", value: { step: 2, goal: "book a flight", picked: "TP1351" } }, { agentId: AGENT, key: "memory/budget", value: { eur: 400 } }]));
  planner.push(await commit([{ agentId: AGENT, key: "plan", value: { step: 3, goal: "book a flight", picked: "TP1351", paid: true } }, { agentId: AGENT, key: "tool/search", delete: true }]));
  await commit([{ agentId: "checkout", key: "cart", value: { items: 2 } }]);
  // 10k keys in two transactions (the per-transaction operation limit is 10 000).
  for (let start = 0; start < 10_000; start += 5000) {
    await client.transact(
      Array.from({ length: 5000 }, (_, i) => ({ agentId: "big-keys", key: `k/${String(start + i).padStart(5, "0")}`, value: { n: start + i } })),
      { namespace: "ops" },
    );
  }
  browser = await launchChromium({ executablePath: chromiumBin, viewport: { width: 1280, height: 800 } });
  const { context } = browser;
  page = context.pages()[0] ?? (await context.newPage());
}, 120_000);

beforeEach(() => {
  onTestFailed(() => console.log(`--- daemon log tail ---\n${harness.current?.tail(30) ?? ""}`));
});

afterAll(async () => {
  await browser?.dispose();
  await client?.close();
  await harness?.dispose();
  if (assets !== undefined) await rm(assets, { recursive: true, force: true });
});

describe("the web console at /console", () => {
  it("serves the built page with its security headers, and RPC on the same port", async () => {
    const res = await fetch(`${harness.url}/console/agents?ns=x`, { headers: { "accept-encoding": "gzip" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("connect-src 'self'");
    expect(await res.text()).toContain('<div id="app">');
    expect((await fetch(`${harness.url}/console/nothing.js`)).status).toBe(404);
    expect(await client.health()).toBe("ok");
  });

  it("lists namespaces with search, and a namespace's agents with key counts and last commit", async () => {
    await open("/");
    await expect.poll(() => view("namespaces").innerText()).toContain("shop");
    expect(await view("namespaces").innerText()).toContain("ops");
    await shot("namespaces");
    await page.keyboard.press("/");
    await page.keyboard.type("sh");
    await expect.poll(() => page.url()).toContain("q=sh");
    await expect.poll(() => view("namespaces").innerText()).not.toContain("ops");
    // Keyboard: into the list, Enter opens the namespace.
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.url()).toContain("/console/agents?ns=shop");
    await expect.poll(() => view("agents").innerText()).toContain("planner");
    const rows = await view("agents").innerText();
    expect(rows).toMatch(new RegExp(`planner\\s+2\\s+${planner[2]}`));
    expect(rows).toMatch(/checkout\s+1\s+4/);
    await shot("agents");
  });

  it("shows an agent's keys with versions, a prefix filter, the JSON tree and the raw value", async () => {
    await open(`/agent?ns=${NS}&agent=${AGENT}`);
    await expect.poll(() => view("keys").innerText()).toContain("plan");
    expect(await view("key-count").innerText()).toBe("2 keys");
    await view("keys").focus();
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.url()).toContain("key=plan");
    await expect.poll(() => view("key-detail").innerText()).toContain("version 3");
    expect(await view("json-tree").innerText()).toContain("TP1351");
    await shot("state");
    await page.getByRole("button", { name: "Raw" }).click();
    await expect.poll(() => view("raw-json").innerText()).toContain('"paid": true');
    // The deep link keeps the prefix, the key and the raw view.
    await open(`/agent?ns=${NS}&agent=${AGENT}&prefix=memory%2F&key=memory%2Fbudget&view=raw`);
    await expect.poll(() => view("raw-json").innerText()).toContain('"eur": 400');
    expect(await view("key-count").innerText()).toBe("1 key");
  });

  it("lists 10k keys virtualized", async () => {
    await open("/agent?ns=ops&agent=big-keys");
    await expect.poll(() => view("key-count").innerText(), { timeout: 20_000 }).toBe("10000 keys");
    expect(await view("keys").getAttribute("data-count")).toBe("10000");
    expect(await view("keys").locator("[role=option]").count()).toBeLessThan(100);
    await view("keys").focus();
    await page.keyboard.press("End");
    await expect.poll(() => view("keys").innerText()).toContain("k/09999");
  });

  it("shows every version of a key and a side-by-side diff between any two", async () => {
    await open(`/history?ns=${NS}&agent=${AGENT}&key=plan`);
    await expect.poll(() => view("versions").getAttribute("data-count")).toBe("3");
    // Default: the previous version against the latest.
    const diff = view("json-diff");
    await expect.poll(() => diff.innerText()).toContain("A: v2");
    expect(await diff.innerText()).toContain('"paid": true');
    expect(Number(await diff.getAttribute("data-changes"))).toBeGreaterThan(0);
    await shot("history");
    // Any two: v1 against v3, by deep link; then B moved with the keyboard.
    await open(`/history?ns=${NS}&agent=${AGENT}&key=plan&a=1&b=3`);
    await expect.poll(() => diff.innerText()).toContain("A: v1");
    expect(await diff.locator(".d-old").allInnerTexts()).toContain('  "step": 1,');
    await view("versions").focus();
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("b");
    await expect.poll(() => page.url()).toContain("b=2");
  });

  it("follows the timeline live: a commit made from Python shows up within a second", async () => {
    await open(`/timeline?ns=${NS}&agent=${AGENT}`);
    await expect.poll(() => view("live-state").getAttribute("data-phase")).toBe("live");
    expect(await view("event-count").innerText()).toBe("3 events");
    const rows = await view("events").innerText();
    expect(rows).toContain("plan v3");
    expect(rows).toContain("−tool/search");
    const script = [
      "import sys",
      "from statehouse import Statehouse",
      "client = Statehouse(url=sys.argv[1], namespace='shop')",
      "with client.begin_transaction() as tx:",
      "    tx.write(agent_id='planner', key='plan', value={'step': 4, 'from': 'python'})",
      "print(tx.commit_ts)",
    ].join("\n");
    const python = spawnSync(pythonBin, ["-c", script, harness.address], { encoding: "utf8", timeout: 60_000 });
    expect(python.status, python.stderr).toBe(0);
    const commitTs = python.stdout.trim();
    // The commit is acknowledged: the live timeline must show it within a second.
    await view("event-count").filter({ hasText: "4 events" }).waitFor({ timeout: 1000 });
    await expect.poll(() => view("event-detail").innerText()).toContain(`commit_ts ${commitTs}`);
    expect(await view("event-detail").innerText()).toContain('"python"');
    const txnId = await view("txn-id").innerText();
    const [event] = await client.lastEvents(AGENT, 1);
    expect(txnId).toBe(event?.txnId);
    await shot("timeline");
  });

  it("time travel shows the whole state at an earlier commit_ts (or wall time), diffed against now", async () => {
    const first = planner[0] as bigint;
    await open(`/timetravel?ns=${NS}&agent=${AGENT}&ts=${first}`);
    await expect.poll(() => view("asof-ts").innerText()).toBe(String(first));
    const keys = view("asof-keys");
    await expect.poll(() => keys.innerText()).toContain("tool/search");
    expect(await keys.locator("[data-change=removed]").innerText()).toContain("tool/search");
    expect(await keys.locator("[data-change=added]").innerText()).toContain("memory/budget");
    expect(await keys.locator("[data-change=changed]").innerText()).toContain("plan");
    // The active row (plan, changed) is diffed: then step 1, now step 4 from Python.
    const diff = view("json-diff");
    expect(await diff.locator(".d-old").allInnerTexts()).toContain('  "step": 1,');
    expect(await diff.innerText()).toContain('"from": "python"');
    await shot("timetravel");
    // A wall time resolves to the agent's last commit at or before it.
    let at = new Date(0);
    for await (const event of client.replay(AGENT, { startTs: planner[1] as bigint, limit: 1 })) at = event.committedAt ?? at;
    await open(`/timetravel?ns=${NS}&agent=${AGENT}&at=${encodeURIComponent(new Date(at.getTime() + 1).toISOString())}`);
    await expect.poll(() => view("asof-ts").innerText()).toBe(String(planner[1]));
  });

  it("shows the daemon's health: version, commit_ts, recovery report, counters", async () => {
    await open("/health");
    const status = await client.daemonStatus();
    await expect.poll(() => view("health-commit-ts").innerText()).toBe(String(status.commitTs));
    expect(await view("health-version").innerText()).toContain(status.version);
    expect(await view("recovery").innerText()).toContain("rocksdb");
    await shot("health");
  });

  it("says plainly when retention compacted the history: the timeline starts after the horizon", async () => {
    const retention = createClient(RetentionService, createConnectTransport({ baseUrl: harness.url, httpVersion: "2" }));
    await retention.setRetentionPolicy({ namespace: "ret", policy: { kind: RetentionKind.KEEP_DURATION, keepDurationMs: 1n } });
    const first = (await client.transact([{ agentId: "old", key: "k", value: { v: 1 } }], { namespace: "ret" })).commitTs;
    await client.transact([{ agentId: "old", key: "k", value: { v: 2 } }], { namespace: "ret" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await retention.compactHistory({});
    const { horizonCommitTs } = await retention.getHorizon({ namespace: "ret" });
    expect(horizonCommitTs).toBeGreaterThan(first);
    await open("/timeline?ns=ret&agent=old");
    await expect.poll(() => view("compacted").innerText()).toContain(`up to commit_ts ${horizonCommitTs} was compacted`);
    await expect.poll(() => view("live-state").getAttribute("data-phase")).toBe("live");
    const { commitTs } = await client.transact([{ agentId: "old", key: "k", value: { v: 3 } }], { namespace: "ret" });
    await expect.poll(() => view("event-detail").innerText()).toContain(`commit_ts ${commitTs}`);
    // Time travel behind the horizon: the error says so.
    await open(`/timetravel?ns=ret&agent=old&ts=${first}`);
    await expect.poll(() => view("error").getAttribute("data-kind")).toBe("compacted");
    expect(await view("error").innerText()).toContain("History compacted");
    await shot("compacted");
  });

  it("asks for an API key when the daemon requires one, keeps it for the tab and lists only what the key may read", async () => {
    const secured = await DaemonHarness.create({ name: "console-auth", env: { STATEHOUSE_CONSOLE_DIR: assets, STATEHOUSE_AUTH: "required" } });
    try {
      await secured.start();
      const token = (await readFile(join(secured.dataDir, "auth", "initial-admin-key"), "utf8")).trim();
      const admin = new Statehouse({ url: secured.url, apiKey: token });
      const auth = createClient(AuthService, createConnectTransport({ baseUrl: secured.url, httpVersion: "2" }));
      await admin.transact([{ agentId: "a1", key: "k", value: { v: 1 } }], { namespace: "visible" });
      await admin.transact([{ agentId: "a2", key: "k", value: { v: 2 } }], { namespace: "hidden" });
      const created = await auth.createApiKey({ name: "console-reader", grants: [{ namespacePattern: "visible", role: Role.READ }] }, { headers: { authorization: `Bearer ${token}` } });
      await admin.close();
      await page.goto(`${secured.url}/console/`);
      await view("api-key-prompt").waitFor({ timeout: 15_000 });
      await shot("api-key");
      await view("api-key-prompt").locator("input[type=password]").fill(created.secret);
      await page.getByRole("button", { name: "Use this key" }).click();
      await expect.poll(() => view("namespaces").innerText(), { timeout: 15_000 }).toContain("visible");
      expect(await view("namespaces").innerText()).not.toContain("hidden");
      expect(await page.evaluate(() => sessionStorage.getItem("statehouse.apiKey"))).toBe(created.secret);
      // Another namespace is denied, and said so.
      await page.goto(`${secured.url}/console/agents?ns=hidden`);
      await expect.poll(() => view("error").getAttribute("data-kind")).toBe("denied");
      expect(await view("error").innerText()).toContain('namespace "hidden"');
      await page.evaluate(() => sessionStorage.clear());
    } finally {
      await secured.dispose();
    }
  });

  it("after a SIGKILL shows the outage, then recovers after the restart without a reload", async () => {
    await open(`/timeline?ns=${NS}&agent=${AGENT}`);
    await expect.poll(() => view("live-state").getAttribute("data-phase")).toBe("live");
    await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));
    await harness.kill();
    await view("outage").waitFor({ timeout: 15_000 });
    await expect.poll(() => view("live-state").getAttribute("data-phase")).toBe("reconnecting");
    await shot("outage");
    await harness.restart();
    await view("outage").waitFor({ state: "detached", timeout: 15_000 });
    await expect.poll(() => view("live-state").getAttribute("data-phase"), { timeout: 15_000 }).toBe("live");
    const { commitTs } = await client.transact([{ agentId: AGENT, key: "plan", value: { step: 5, after: "restart" } }]);
    await expect.poll(() => view("event-detail").innerText()).toContain(`commit_ts ${commitTs}`);
    expect(await view("event-count").innerText()).toBe("5 events");
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    // The recovery report of the new start is on the health view.
    await page.getByRole("link", { name: "Health" }).click();
    await expect.poll(() => view("recovery-commit-ts").innerText()).toBe(String(commitTs - 1n));
  });

  it("scrolls a 100k-event timeline virtualized", async () => {
    // A second daemon over a store seeded through the engine itself (100k one-event
    // transactions, a thousand in flight): the same data as 100k SDK commits, in seconds.
    const seeded = await DaemonHarness.create({ name: "console-100k", env: { STATEHOUSE_CONSOLE_DIR: assets } });
    try {
      const engine = await openEngine({ dataDir: seeded.dataDir, fsyncOnCommit: false, snapshotInterval: 0 });
      for (let start = 0; start < EVENTS; start += 1000) {
        await Promise.all(
          Array.from({ length: 1000 }, (_, j) => engine.transact({ operations: [{ namespace: "ops", agentId: "long", key: `step/${(start + j) % 100}`, value: { i: start + j } }] })),
        );
      }
      await engine.close();
      await seeded.start();
      await page.goto(`${seeded.url}/console/timeline?ns=ops&agent=long&live=0`);
      await expect.poll(() => view("event-count").innerText(), { timeout: 60_000 }).toBe("100000 events");
      expect(await view("events").getAttribute("data-count")).toBe("100000");
      expect(await view("events").locator("[role=option]").count()).toBeLessThan(100);
      await view("events").focus();
      await page.keyboard.press("Home");
      await expect.poll(() => view("event-detail").innerText()).toContain("commit_ts 1\n");
      await page.keyboard.press("End");
      await expect.poll(() => view("event-detail").innerText()).toContain(`commit_ts ${EVENTS}\n`);
      await expect.poll(() => view("events").innerText()).toContain(String(EVENTS));
      await shot("timeline-100k");
    } finally {
      await seeded.dispose();
    }
  }, 300_000);
});
