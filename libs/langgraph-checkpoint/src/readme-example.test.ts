// Runs the README's example against a real daemon, with a unique thread id.
import { runReadmeBlock, uniqueAgent, useTestDaemon } from "@statehouse/sdk/test-support";
import { expect, it } from "vitest";
import { StatehouseSaver } from "./index.js";

const daemon = useTestDaemon();

it("the README's example runs and prints what its comments say", async () => {
  const thread = uniqueAgent("readme");
  const logged = await runReadmeBlock(new URL("../README.md", import.meta.url), "readme-example", {
    '"http://localhost:50051"': JSON.stringify(daemon.url),
    '"thread-1"': JSON.stringify(thread),
  });
  expect(logged[0]).toEqual([["plan"]]);
  expect(logged[1]).toEqual([["plan", "act"]]);
  expect(logged[2]).toEqual([{ did: "act" }]);
  const history = logged.slice(3);
  expect(history.length).toBeGreaterThanOrEqual(4); // a transaction per checkpoint and per task's writes
  expect(history.every(([commitTs]) => typeof commitTs === "bigint")).toBe(true);
  expect(history.some(([, keys]) => String(keys).includes("checkpoint/"))).toBe(true);

  const saver = new StatehouseSaver(daemon.client());
  expect((await saver.getTuple({ configurable: { thread_id: thread } }))?.checkpoint.channel_values).toEqual({ steps: ["plan", "act"] });
});
