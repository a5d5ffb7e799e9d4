// Two writers and one reader on one session, each with its own client (its
// own connections), against a real daemon: every batch lands whole and in
// order, none is lost, and every read is one consistent view.
import type { AgentInputItem } from "@openai/agents";
import { uniqueAgent, useTestDaemon } from "@statehouse/sdk/test-support";
import { expect, it } from "vitest";
import { StatehouseSession } from "./index.js";

const BATCHES = 40;
const BATCH_SIZE = 3;

const daemon = useTestDaemon();

/** A session object with a client (and so connections) of its own. */
function session(sessionId: string): StatehouseSession {
  return new StatehouseSession(daemon.client(), { sessionId });
}

const text = (item: AgentInputItem): string => ("content" in item && typeof item.content === "string" ? item.content : "?");

/** Checks a read: whole batches (a window may start inside one), each writer's in order without gaps. */
function checkView(items: AgentInputItem[], window: boolean): void {
  const parsed = items.map((item) => {
    const m = /^w(\d)-b(\d+)-(\d)$/.exec(text(item));
    if (m === null) throw new Error(`unexpected item ${JSON.stringify(item)}`);
    return { writer: Number(m[1]), batch: Number(m[2]), index: Number(m[3]) };
  });
  const lastBatch = new Map<number, number>();
  parsed.forEach((p, i) => {
    const prev = parsed[i - 1];
    if (p.index > 0) {
      if (prev === undefined) {
        expect(window, "a full read starts inside a batch").toBe(true);
      } else {
        expect([prev.writer, prev.batch, prev.index + 1], "a batch was torn").toEqual([p.writer, p.batch, p.index]);
      }
      return;
    }
    if (prev !== undefined) expect(prev.index, "a batch was cut short").toBe(BATCH_SIZE - 1);
    const last = lastBatch.get(p.writer);
    if (last !== undefined) expect(p.batch, `writer ${p.writer}'s batches out of order or missing`).toBe(last + 1);
    else if (!window) expect(p.batch).toBe(0);
    lastBatch.set(p.writer, p.batch);
  });
  if (!window && parsed.length > 0) expect(parsed.at(-1)?.index, "the newest batch is partly visible").toBe(BATCH_SIZE - 1);
}

it("two writers and one reader: nothing lost, nothing torn, every read consistent", async () => {
  const sessionId = uniqueAgent("concurrent");
  const writers = [1, 2].map(async (writer) => {
    const s = session(sessionId);
    for (let batch = 0; batch < BATCHES; batch += 1) {
      await s.addItems(Array.from({ length: BATCH_SIZE }, (_, index) => ({ role: "user" as const, content: `w${writer}-b${batch}-${index}` })));
    }
  });
  let done = false;
  const allWritten = Promise.all(writers).finally(() => {
    done = true;
  });
  const reader = session(sessionId);
  let reads = 0;
  let previous: AgentInputItem[] = [];
  while (!done) {
    const full = await reader.getItems();
    checkView(full, false);
    // Appends only: an earlier read is a prefix of every later one.
    expect(full.slice(0, previous.length)).toEqual(previous);
    previous = full;
    checkView(await reader.getItems(7), true);
    reads += 1;
  }
  await allWritten;
  const final = await reader.getItems();
  checkView(final, false);
  expect(final).toHaveLength(2 * BATCHES * BATCH_SIZE);
  expect(new Set(final.map(text)).size).toBe(2 * BATCHES * BATCH_SIZE);
  expect(reads).toBeGreaterThan(0);
});
