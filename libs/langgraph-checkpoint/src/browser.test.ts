// The saver and the store in headless Chromium, on the SDK's browser entry
// (Connect over fetch), against a real daemon: a page served from another
// origin (allowed by the daemon's STATEHOUSE_CORS_ORIGINS) writes a
// checkpoint, its writes and a store item; Node reads them back.
import { uniqueAgent, useBrowserPage, useTestDaemon } from "@statehouse/sdk/test-support";
import { expect, it } from "vitest";
import { StatehouseSaver, StatehouseStore } from "./index.js";

// The daemon refuses every browser origin unless told (STATEHOUSE_CORS_ORIGINS).
const daemon = useTestDaemon({ env: { STATEHOUSE_CORS_ORIGINS: "http://127.0.0.1:*" } });

const PAGE = `
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { Statehouse } from "@statehouse/sdk";
import { StatehouseSaver, StatehouseStore } from "@statehouse/langgraph-checkpoint";
globalThis.runInPage = async (url, threadId) => {
  const client = new Statehouse({ url });
  const saver = new StatehouseSaver(client);
  const checkpoint = { ...emptyCheckpoint(), id: uuid6(0), channel_values: { topic: "from chromium" }, channel_versions: { topic: 1 } };
  const config = await saver.put({ configurable: { thread_id: threadId } }, checkpoint, { source: "input", step: -1, parents: {} }, { topic: 1 });
  await saver.putWrites(config, [["topic", "next"]], "task-1");
  const tuple = await saver.getTuple({ configurable: { thread_id: threadId } });
  await new StatehouseStore(client).put(["browser", threadId], "seen", { by: navigator.userAgent.includes("Chrome") ? "chrome" : "other" });
  await client.close();
  return { values: tuple.checkpoint.channel_values, writes: tuple.pendingWrites, checkpointId: checkpoint.id };
};
`;

const page = useBrowserPage(PAGE, import.meta.dirname);

it("runs in Chromium on the SDK's browser entry: put, putWrites, getTuple, store put", async () => {
  const threadId = uniqueAgent("browser");
  const result = (await page.run(daemon.url, threadId)) as { values: unknown; writes: unknown; checkpointId: string };
  expect(result.values).toEqual({ topic: "from chromium" });
  expect(result.writes).toEqual([["task-1", "topic", "next"]]);

  const client = daemon.client();
  const tuple = await new StatehouseSaver(client).getTuple({ configurable: { thread_id: threadId } });
  expect(tuple?.checkpoint.id).toBe(result.checkpointId);
  expect(tuple?.pendingWrites).toEqual([["task-1", "topic", "next"]]);
  expect((await new StatehouseStore(client).get(["browser", threadId], "seen"))?.value).toEqual({ by: "chrome" });
});
