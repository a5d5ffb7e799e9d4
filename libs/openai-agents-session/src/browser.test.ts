// The session in headless Chromium, on the SDK's browser entry (Connect over
// fetch), against a real daemon: the page adds, pops and reads items; Node
// reads the same conversation back.
import { uniqueAgent, useBrowserPage, useTestDaemon } from "@statehouse/sdk/test-support";
import { expect, it } from "vitest";
import { StatehouseSession } from "./index.js";

// The daemon refuses every browser origin unless told (STATEHOUSE_CORS_ORIGINS).
const daemon = useTestDaemon({ env: { STATEHOUSE_CORS_ORIGINS: "http://127.0.0.1:*" } });

const PAGE = `
import { Statehouse } from "@statehouse/sdk";
import { StatehouseSession } from "@statehouse/openai-agents";
globalThis.runInPage = async (url, sessionId) => {
  const client = new Statehouse({ url });
  const session = new StatehouseSession(client, { sessionId });
  await session.addItems([{ role: "user", content: "hi from chromium" }, { role: "user", content: "dropped" }]);
  const popped = await session.popItem();
  const items = await session.getItems();
  await client.close();
  return { popped, items };
};
`;

const page = useBrowserPage(PAGE, import.meta.dirname);

it("runs in Chromium on the SDK's browser entry: addItems, popItem, getItems", async () => {
  const sessionId = uniqueAgent("browser");
  const result = await page.run(daemon.url, sessionId);
  expect(result).toEqual({ popped: { role: "user", content: "dropped" }, items: [{ role: "user", content: "hi from chromium" }] });
  expect(await new StatehouseSession(daemon.client(), { sessionId }).getItems()).toEqual([{ role: "user", content: "hi from chromium" }]);
});
