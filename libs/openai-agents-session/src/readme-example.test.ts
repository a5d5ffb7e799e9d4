// Runs the README's example against a real daemon, with a unique session id.
import { runReadmeBlock, uniqueAgent, useTestDaemon } from "@statehouse/sdk/test-support";
import { expect, it } from "vitest";

const daemon = useTestDaemon();

it("the README's example runs and prints what its comments say", async () => {
  const logged = await runReadmeBlock(new URL("../README.md", import.meta.url), "readme-example", {
    '"http://localhost:50051"': JSON.stringify(daemon.url),
    '"user-42"': JSON.stringify(uniqueAgent("readme")),
  });
  expect(logged[0]).toEqual([2]);
  expect(logged[1]).toEqual([[{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Paris." }] }]]);
  expect(logged[2]).toEqual(["assistant"]);
  expect(logged[3]).toEqual([["What is the capital of France?"]]);
  expect(logged[4]).toEqual([[]]);
  // addItems, popItem, clearSession: one transaction each.
  expect(logged.slice(5).map(([commitTs, ops]) => [typeof commitTs, ops])).toEqual([
    ["bigint", 3],
    ["bigint", 2],
    ["bigint", 2],
  ]);
});
