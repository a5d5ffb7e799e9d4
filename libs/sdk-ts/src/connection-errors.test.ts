// Failure to reach the daemon, over every transport: refused connections, the
// daemon SIGKILLed mid-stream and mid-call (at the commit failpoints), lost
// transactions after a restart, reconnecting after a restart, and
// withTransaction's idempotent retry across a crash. Each case runs its own
// daemon process (it kills it), so STATEHOUSE_TEST_URL does not apply here.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionError, StatehouseError, type StatehouseClient } from "./index.js";
import { DaemonProcess } from "@statehouse/test-services";
import { uniqueAgent } from "./test-support/daemon.js";
import { TRANSPORTS } from "./test-support/transports.js";

describe.each(TRANSPORTS)("$name", (transport) => {
  let daemon: DaemonProcess;
  let client: StatehouseClient;

  beforeAll(async () => {
    daemon = await DaemonProcess.start();
    client = transport.create({ url: daemon.url });
  });

  afterAll(async () => {
    await client?.close();
    await daemon?.dispose();
  });

  it("a daemon killed mid-stream ends the stream with ConnectionError; the client works after a restart", async () => {
    const agent = uniqueAgent("mid-stream");
    const tx = await client.beginTransaction();
    tx.write(agent, "k", { v: 1 });
    const ts = await tx.commit();

    const received: bigint[] = [];
    const error = await (async () => {
      try {
        for await (const event of client.watch(agent, { startTs: ts })) {
          received.push(event.commitTs);
          await daemon.kill("SIGKILL");
        }
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(received).toEqual([ts]);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: "UNAVAILABLE" });

    await expect(client.health()).rejects.toBeInstanceOf(ConnectionError);
    await expect(client.getState(agent, "k")).rejects.toBeInstanceOf(ConnectionError);

    await daemon.restart();
    expect(await client.health()).toBe("ok");
    expect(await client.getState(agent, "k")).toMatchObject({ value: { v: 1 }, version: 1n, commitTs: ts });
  });

  it("a transaction begun before a restart commits after it: nothing of it lived on the daemon before the commit", async () => {
    const agent = uniqueAgent("restart-txn");
    const tx = await client.beginTransaction();
    tx.write(agent, "k", { v: 1 });
    await daemon.kill("SIGKILL");
    await daemon.restart();
    const commitTs = await tx.commit();
    expect(await client.getState(agent, "k")).toMatchObject({ value: { v: 1 }, version: 1n, commitTs });
  });

  it.each([
    // Unacknowledged: may or may not survive, but never partially.
    { failpoint: "commit:before-sync", durable: false },
    // Synced but the reply never left: must survive.
    { failpoint: "commit:after-sync-before-reply", durable: true },
  ])("a daemon killed mid-commit at $failpoint: ConnectionError; all or nothing applied", async ({ failpoint, durable }) => {
    const agent = uniqueAgent("mid-commit");
    await daemon.kill("SIGKILL");
    await daemon.restart({ STATEHOUSE_FAILPOINT: failpoint });
    const tx = await client.beginTransaction();
    tx.write(agent, "a", { v: 1 });
    tx.write(agent, "b", { v: 1 });
    const error = await tx.commit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(tx.state).toBe("failed");
    expect((await daemon.exited).signal).toBe("SIGKILL");

    await daemon.restart({});
    const [a, b] = [await client.getState(agent, "a"), await client.getState(agent, "b")];
    expect(a.exists).toBe(b.exists);
    if (durable) expect(a).toMatchObject({ value: { v: 1 }, version: 1n, exists: true });
  });

  it("withTransaction resends a commit whose reply was lost (same operations, same key): it applies exactly once", async () => {
    const agent = uniqueAgent("idempotent");
    await daemon.kill("SIGKILL");
    await daemon.restart({ STATEHOUSE_FAILPOINT: "commit:after-sync-before-reply" });
    // Bring the daemon back (without the failpoint) as soon as it dies.
    const restarted = daemon.exited.then(() => daemon.restart({}));
    let runs = 0;
    const outcome = await client.withTransaction(
      async (tx) => {
        runs++;
        const seen = await tx.get(agent, "counter");
        tx.write(agent, "counter", { n: ((seen.value?.["n"] as number | undefined) ?? 0) + 1 });
        return runs;
      },
      { retries: 30, backoffMs: 50, maxBackoffMs: 500 },
    );
    await restarted;
    // The commit whose reply was lost is resent as it was, never re-run: fn ran once, and
    // the resend found the key committed with that content.
    expect(runs).toBe(1);
    expect(outcome).toMatchObject({ result: 1, attempts: 1, duplicate: true });
    expect(await client.getState(agent, "counter")).toMatchObject({ value: { n: 1 }, version: 1n, commitTs: outcome.commitTs });
    const events = [];
    for await (const event of client.replay(agent)) events.push(event);
    expect(events).toHaveLength(1);
    expect(events[0]?.commitTs).toBe(outcome.commitTs);
  });

  it("a refused connection is a ConnectionError from every kind of call", async () => {
    await daemon.kill("SIGKILL");
    const agent = uniqueAgent("refused");
    await expect(client.version()).rejects.toBeInstanceOf(ConnectionError);
    await expect(client.transact([{ agentId: agent, key: "k", value: { v: 1 } }], { retries: 0 })).rejects.toBeInstanceOf(ConnectionError);
    const tx = await client.beginTransaction();
    tx.write(agent, "k", { v: 1 });
    await expect(tx.commit()).rejects.toBeInstanceOf(ConnectionError);
    await expect(client.listKeys(agent)).rejects.toBeInstanceOf(ConnectionError);
    const stream = (async () => {
      for await (const _event of client.replay(agent)) {
        // never reached
      }
    })();
    await expect(stream).rejects.toBeInstanceOf(ConnectionError);
    await daemon.restart({});
    expect(await client.listKeys(agent)).toEqual([]);
  });

  it("the caller's abort is CANCELLED, not a ConnectionError; close() ends streams with CLOSED", async () => {
    const agent = uniqueAgent("cancel");
    const controller = new AbortController();
    const cancelled = (async () => {
      for await (const _event of client.watch(agent, { signal: controller.signal })) {
        // no events: nothing is committed
      }
    })();
    setTimeout(() => controller.abort(), 100);
    const error = await cancelled.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StatehouseError);
    expect(error).not.toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: "CANCELLED" });

    const closing = transport.create({ url: daemon.url });
    expect(await closing.health()).toBe("ok");
    const watching = (async () => {
      for await (const _event of closing.watch(agent)) {
        // no events
      }
    })();
    setTimeout(() => void closing.close(), 100);
    await expect(watching).rejects.toMatchObject({ code: "CLOSED" });
    await expect(closing.health()).rejects.toMatchObject({ code: "CLOSED" });
  });
});
