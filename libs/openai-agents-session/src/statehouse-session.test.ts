// StatehouseSession against the @openai/agents package itself: its Session
// type (checked by tsc), the behaviour of its own MemorySession (the
// reference), and a real Runner run with a deterministic model (no API key).
import { Agent, MemorySession, Runner, Usage, type AgentInputItem, type Model, type ModelRequest, type ModelResponse, type Session } from "@openai/agents";
import { uniqueAgent as uniqueId, useTestDaemon } from "@statehouse/sdk/test-support";
import { expect, expectTypeOf, it } from "vitest";
import { StatehouseSession } from "./index.js";

const daemon = useTestDaemon();

const user = (text: string): AgentInputItem => ({ role: "user", content: text });
const assistant = (text: string): AgentInputItem => ({
  type: "message",
  role: "assistant",
  status: "completed",
  content: [{ type: "output_text", text }],
});

it("is a Session of @openai/agents (type level)", () => {
  expectTypeOf<StatehouseSession>().toExtend<Session>();
  expectTypeOf<StatehouseSession["getItems"]>().toEqualTypeOf<(limit?: number) => Promise<AgentInputItem[]>>();
  expectTypeOf<StatehouseSession["addItems"]>().toEqualTypeOf<(items: AgentInputItem[]) => Promise<void>>();
  expectTypeOf<StatehouseSession["popItem"]>().toEqualTypeOf<() => Promise<AgentInputItem | undefined>>();
  expectTypeOf<StatehouseSession["clearSession"]>().toEqualTypeOf<() => Promise<void>>();
  const session: Session = new StatehouseSession(daemon.client(), { sessionId: "typed" });
  expect(session).toBeInstanceOf(StatehouseSession);
});

/** Every Session method, in an order that exercises the edges; returns what each call gave. */
async function script(session: Session): Promise<unknown[]> {
  const out: unknown[] = [];
  out.push(await session.getItems());
  out.push(await session.popItem());
  await session.addItems([]);
  await session.addItems([user("one"), assistant("two")]);
  await session.addItems([user("three"), { type: "function_call", callId: "c1", name: "lookup", arguments: '{"q":"x"}' }]);
  await session.addItems([{ type: "function_call_result", callId: "c1", name: "lookup", status: "completed", output: "found" }]);
  out.push(await session.getItems());
  for (const limit of [0, 1, 3, 5, 100]) out.push(await session.getItems(limit));
  out.push(await session.popItem());
  out.push(await session.popItem());
  out.push(await session.getItems());
  await session.addItems([user("after pop")]);
  out.push(await session.getItems(2));
  await session.clearSession();
  out.push(await session.getItems());
  out.push(await session.popItem());
  await session.addItems([user("fresh")]);
  out.push(await session.getItems());
  return out;
}

it("behaves as the package's own MemorySession, call for call", async () => {
  const ours = new StatehouseSession(daemon.client(), { sessionId: uniqueId("parity") });
  const reference = new MemorySession({ sessionId: "reference" });
  const expected = await script(reference);
  expect(await script(ours)).toEqual(expected);
  expect(await ours.getSessionId()).toBe(ours.sessionId);
  // A second instance on the same id sees the same conversation.
  expect(await new StatehouseSession(daemon.client(), { sessionId: ours.sessionId }).getItems()).toEqual([user("fresh")]);
});

/** A deterministic model: answers "reply N" where N counts the user messages it was given. */
class CountingModel implements Model {
  readonly inputs: AgentInputItem[][] = [];
  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const input = typeof request.input === "string" ? [user(request.input)] : request.input;
    this.inputs.push(input);
    const users = input.filter((item) => "role" in item && item.role === "user").length;
    return { usage: new Usage(), output: [assistant(`reply ${users}`) as ModelResponse["output"][number]], responseId: `r${this.inputs.length}` };
  }
  // eslint-disable-next-line require-yield
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("not streamed in this test");
  }
}

it("a Runner keeps the conversation in it: the second turn's model input holds the first turn", async () => {
  const model = new CountingModel();
  const agent = new Agent({ name: "echo", instructions: "Answer.", model });
  const runner = new Runner({ tracingDisabled: true });
  const sessionId = uniqueId("runner");
  const first = await runner.run(agent, "hello", { session: new StatehouseSession(daemon.client(), { sessionId }) });
  expect(first.finalOutput).toBe("reply 1");
  // A new session object (as after a restart) on the same id continues the conversation.
  const second = await runner.run(agent, "again", { session: new StatehouseSession(daemon.client(), { sessionId }) });
  expect(second.finalOutput).toBe("reply 2");
  expect(model.inputs[1]?.map((item) => ("role" in item ? item.role : item.type))).toEqual(["user", "assistant", "user"]);
  const stored = await new StatehouseSession(daemon.client(), { sessionId }).getItems();
  expect(stored.map((item) => ("content" in item ? JSON.stringify(item.content) : ""))).toEqual([
    JSON.stringify("hello"),
    JSON.stringify([{ type: "output_text", text: "reply 1" }]),
    JSON.stringify("again"),
    JSON.stringify([{ type: "output_text", text: "reply 2" }]),
  ]);
});

it("rejects a negative or fractional limit with a TypeError", async () => {
  const session = new StatehouseSession(daemon.client(), { sessionId: uniqueId("limits") });
  await expect(session.getItems(-1)).rejects.toThrow(TypeError);
  await expect(session.getItems(1.5)).rejects.toThrow(/non-negative integer/);
});
