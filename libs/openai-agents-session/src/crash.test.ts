// The session across daemon crashes (SIGKILL, and the daemon's own
// failpoint that kills it after a commit is synced, before the reply).
import type { AgentInputItem } from "@openai/agents";
import { Statehouse } from "@statehouse/sdk";
import { DaemonProcess, uniqueAgent } from "@statehouse/sdk/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { StatehouseSession } from "./index.js";

let daemon: DaemonProcess;
let client: Statehouse;

beforeAll(async () => {
  daemon = await DaemonProcess.start();
  client = new Statehouse({ url: daemon.url });
});

afterAll(async () => {
  await client?.close();
  await daemon?.dispose();
});

const say = (content: string): AgentInputItem => ({ role: "user", content });
const texts = (items: AgentInputItem[]) => items.map((i) => ("content" in i ? i.content : "?"));

it("acknowledged items survive a daemon SIGKILL", async () => {
  const sessionId = uniqueAgent("sigkill");
  await new StatehouseSession(client, { sessionId }).addItems([say("a"), say("b")]);
  await daemon.kill("SIGKILL");
  await daemon.restart();
  expect(texts(await new StatehouseSession(client, { sessionId }).getItems())).toEqual(["a", "b"]);
});

it("addItems whose reply was lost in a crash is resent, not repeated: the batch is there exactly once", async () => {
  const session = new StatehouseSession(client, { sessionId: uniqueAgent("lost-reply") });
  await session.addItems([say("before")]);
  await daemon.kill("SIGKILL");
  await daemon.restart({ STATEHOUSE_FAILPOINT: "commit:after-sync-before-reply" });
  const restarted = daemon.exited.then(() => daemon.restart({}));
  await session.addItems([say("x"), say("y"), say("z")]);
  await restarted;
  expect(texts(await session.getItems())).toEqual(["before", "x", "y", "z"]);
  await session.addItems([say("after")]);
  expect(texts(await session.getItems(2))).toEqual(["z", "after"]);
});
