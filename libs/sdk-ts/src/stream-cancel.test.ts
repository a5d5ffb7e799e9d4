// Leaving a `for await` loop early must cancel the server stream (replay and
// watch share that code; watch never ends by itself, so it shows). Observed on
// the daemon: with STATEHOUSE_MAX_STREAMING_CALLS=1 a second stream is
// refused while the first is open, and is accepted again only once the
// daemon has seen the first one cancelled.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatehouseError, type StatehouseClient } from "./index.js";
import { DaemonProcess } from "@statehouse/test-services";
import { uniqueAgent } from "./test-support/daemon.js";
import { TRANSPORTS } from "./test-support/transports.js";

let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await DaemonProcess.start({ env: { STATEHOUSE_MAX_STREAMING_CALLS: "1" } });
});

afterAll(async () => {
  await daemon?.dispose();
});

/** Opens a watch and returns its first event's commitTs (so the daemon held the stream), or the error. */
async function firstEvent(client: StatehouseClient, agent: string, startTs: bigint): Promise<unknown> {
  try {
    for await (const event of client.watch(agent, { startTs })) {
      return event.commitTs; // leaves the loop: cancels the stream
    }
    return new Error("watch ended without an event");
  } catch (error) {
    return error;
  }
}

/**
 * Waits (bounded) until the daemon accepts a new stream, i.e. until the
 * cancellation of every earlier stream reached it. A stream left open would
 * never be released (watch does not end), so this would give up.
 */
async function acceptedAgain(client: StatehouseClient, agent: string, startTs: bigint): Promise<unknown> {
  let result: unknown;
  for (let attempt = 0; attempt < 100; attempt++) {
    result = await firstEvent(client, agent, startTs);
    if (typeof result === "bigint") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return result;
}

/** Opens a watch and keeps it open after its first event (waiting, bounded, for a free slot). */
async function holdOpen(client: StatehouseClient, agent: string, startTs: bigint): Promise<AsyncIterator<unknown>> {
  for (let attempt = 0; ; attempt++) {
    const iterator = client.watch(agent, { startTs })[Symbol.asyncIterator]();
    try {
      expect((await iterator.next()).value).toMatchObject({ commitTs: startTs });
      return iterator;
    } catch (error) {
      if (attempt >= 100 || !(error instanceof StatehouseError && error.code === "LIMIT_EXCEEDED")) throw error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(TRANSPORTS)("$name", (transport) => {
  let client: StatehouseClient;

  beforeAll(() => {
    client = transport.create({ url: daemon.url });
  });

  afterAll(async () => {
    await client?.close();
  });

  it("breaking out of watch releases the daemon's stream", async () => {
    const agent = uniqueAgent("cancel");
    const tx = await client.beginTransaction();
    tx.write(agent, "k", { v: 1 });
    const ts = await tx.commit();

    const iterator = await holdOpen(client, agent, ts);
    // While it is open, the daemon refuses another stream: the limit is observable.
    const refused = await firstEvent(client, agent, ts);
    expect(refused).toBeInstanceOf(StatehouseError);
    expect(refused).toMatchObject({ code: "LIMIT_EXCEEDED" });

    await iterator.return?.(); // what `break` does
    expect(await acceptedAgain(client, agent, ts)).toBe(ts);
  });
});
