// Runs the README's Node example against a real daemon.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Statehouse } from "./index.js";
import { testDaemonUrl, uniqueAgent } from "./test-support/daemon.js";
import { consoleLogOf, readmeExample } from "./test-support/readme-example.js";

let daemon: { url: string; dispose: () => Promise<void> };
let dir: string;

beforeAll(async () => {
  daemon = await testDaemonUrl();
  dir = await mkdtemp(join(tmpdir(), "statehouse-readme-"));
});

afterAll(async () => {
  await daemon?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it("the README's Node example runs and does what it says", async () => {
  const agent = uniqueAgent("readme-node");
  const file = join(dir, "example.mjs");
  await writeFile(file, readmeExample("node", { url: daemon.url, agent, agentInExample: "agent-1" }));
  const logged = await consoleLogOf(file);
  expect(logged[0]).toEqual(["ok"]);
  expect(logged[1]).toEqual([{ n: 1 }, 1n, true]);
  expect(logged[2]?.[0]).toBe("committed at");
  expect(logged.slice(3).map((args) => args[1])).toEqual([
    expect.arrayContaining(["counter={\"n\":1}", "tool/search={\"query\":\"statehouse\",\"hits\":3}"]),
    ["tool/search=null"],
    ['tool/search={"query":"again"}'],
  ]);

  await using client = new Statehouse({ url: daemon.url });
  expect(await client.listKeys(agent)).toEqual(["counter", "tool/search"]);
});
