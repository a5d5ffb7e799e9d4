// getItems reads as of the head record's commit. When history retention has
// compacted past it (a session idle longer than the retention), the read is
// taken as of the horizon instead, and still returns the whole session.
import { Statehouse, StatehouseError } from "@statehouse/sdk";
import { DaemonProcess, uniqueAgent } from "@statehouse/sdk/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { StatehouseSession } from "./index.js";

let daemon: DaemonProcess;
let client: Statehouse;

beforeAll(async () => {
  daemon = await DaemonProcess.start({ env: { STATEHOUSE_RETENTION_DEFAULT: "200ms", STATEHOUSE_COMPACTION_INTERVAL_MS: "50" } });
  client = new Statehouse({ url: daemon.url });
});

afterAll(async () => {
  await client?.close();
  await daemon?.dispose();
});

async function compactedPast(agentId: string, key: string, commitTs: bigint): Promise<boolean> {
  try {
    await client.getStateAsOf(agentId, key, commitTs);
    return false;
  } catch (error) {
    if (error instanceof StatehouseError && (error.code as string) === "HISTORY_COMPACTED") return true;
    throw error;
  }
}

it("an idle session whose head commit is behind the retention horizon still reads whole", async () => {
  const session = new StatehouseSession(client, { sessionId: uniqueAgent("idle") });
  await session.addItems([{ role: "user", content: "one" }, { role: "user", content: "two" }]);
  await session.addItems([{ role: "user", content: "three" }]);
  await session.popItem();
  const head = await client.getState(session.agentId, "head");
  // Later commits in the namespace let the horizon move past the session's last one.
  const deadline = Date.now() + 30_000;
  while (!(await compactedPast(session.agentId, "head", head.commitTs))) {
    if (Date.now() > deadline) throw new Error("retention never compacted past the session's head");
    await client.transact([{ agentId: uniqueAgent("other"), key: "tick", value: { at: Date.now() } }]);
    await new Promise((r) => setTimeout(r, 100));
  }
  const texts = (items: Awaited<ReturnType<StatehouseSession["getItems"]>>) => items.map((i) => ("content" in i ? i.content : "?"));
  expect(texts(await session.getItems())).toEqual(["one", "two"]);
  expect(texts(await session.getItems(1))).toEqual(["two"]);
});
