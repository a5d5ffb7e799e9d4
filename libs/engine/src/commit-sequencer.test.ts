// The commit sequencer's asynchronous write over real RocksDB: while a batch write is in flight
// the event loop serves (reads of acknowledged data answer), nothing else is numbered or
// written, a read that would show the unacknowledged batch waits until it is acknowledged,
// the version cache learns only durable batches, and close waits for the write. The writes
// are held by a wrapper around the real store (HeldWrites), either before storage applies
// them or after (storage shows the batch while its write has not returned).
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openEngineOn } from "./open-engine.ts";
import type { KvOp } from "./storage/ordered-kv.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import { expectEngineError } from "./test-support/engine-contract.ts";
import { FaultyKv } from "./test-support/faulty-kv.ts";
import { withTempDir } from "./test-support/temp-dir.ts";
import type { Engine, RecordRef } from "./types.ts";

const HEALTHY = { beforePersist: 0, afterPersist: 0, onReopen: 0 };
const ref = (key: string): RecordRef => ({ namespace: "default", agentId: "a", key });

/** Real RocksDB whose asynchronous writes can be held: before storage applies them, or after (not yet returned). */
class HeldWrites extends FaultyKv {
  hold: "none" | "before" | "after" = "none";
  started = 0;
  private gates: (() => void)[] = [];
  private arrived: (() => void)[] = [];

  override async write(ops: readonly KvOp[], sync: boolean): Promise<void> {
    this.started++;
    if (this.hold === "before") await this.held();
    await super.write(ops, sync);
    if (this.hold === "after") await this.held();
  }

  /** Resolves once a write is being held. */
  whenHeld(): Promise<void> {
    return this.gates.length > 0 ? Promise.resolve() : new Promise((resolve) => this.arrived.push(resolve));
  }

  release(): void {
    this.hold = "none";
    for (const open of this.gates.splice(0)) open();
  }

  private held(): Promise<void> {
    return new Promise((resolve) => {
      this.gates.push(resolve);
      for (const notify of this.arrived.splice(0)) notify();
    });
  }
}

/** Whether `promise` settles within `turns` event-loop turns (a held write never lets it). */
async function settlesWithin(promise: Promise<unknown>, turns = 50): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < turns && !settled; i++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  cleanups = [];
});

async function open(): Promise<{ kv: HeldWrites; engine: Engine; dir: string }> {
  const { dir, remove } = await withTempDir();
  cleanups.push(remove);
  const kv = new HeldWrites(await RocksKv.open(join(dir, "db")), Math.random, HEALTHY);
  const engine = await openEngineOn(kv, dir, { idempotencyPurgeIntervalMs: 0 });
  cleanups.push(() => engine.close());
  // A failed test may leave a write held: let it go before closing.
  cleanups.push(() => Promise.resolve(kv.release()));
  return { kv, engine, dir };
}

describe("commit sequencer: asynchronous batch writes", () => {
  it("serves acknowledged reads while a write is in flight, and numbers the next batch only after it settled", async () => {
    const { kv, engine } = await open();
    const { commitTs: first } = await engine.transact({ operations: [{ ...ref("old"), value: { n: 0 } }] });
    kv.hold = "after";
    const writesBefore = kv.started;
    const pending = engine.transact({ operations: [{ ...ref("x"), value: { n: 1 } }, { ...ref("y"), value: { n: 1 } }] });
    await kv.whenHeld();
    // Storage shows the batch now, but it is not acknowledged.
    const old = await engine.get(ref("old"));
    expect(old.commitTs).toBe(first);
    expect(engine.commitTs()).toBe(first);
    expect(engine.stats().commitQueue).toBe(0);
    const next = engine.transact({ operations: [{ ...ref("x"), value: { n: 2 } }] });
    const readX = engine.get(ref("x"));
    const page = engine.listKeys("default", "a");
    expect(await settlesWithin(next)).toBe(false);
    expect(await settlesWithin(readX)).toBe(false);
    expect(await settlesWithin(page)).toBe(false);
    expect(kv.started).toBe(writesBefore + 1);
    kv.release();
    const { commitTs } = await pending;
    expect(commitTs).toBe(first + 1n);
    const x = await readX;
    // Whatever the read shows is covered by commitTs() when it answers: never ahead of it.
    expect(x.commitTs).toBeLessThanOrEqual(engine.commitTs());
    expect(await page).toEqual(["old", "x", "y"]);
    expect((await next).commitTs).toBe(first + 2n);
    expect((await engine.get(ref("x"))).version).toBe(2n);
  });

  it("a read that reaches the batch in flight answers only once it is acknowledged; a replay then includes it", async () => {
    const { kv, engine } = await open();
    kv.hold = "after";
    const pending = engine.transact({ operations: [{ ...ref("k"), value: { n: 1 } }] });
    await kv.whenHeld();
    const read = engine.get(ref("k"));
    expect(await settlesWithin(read)).toBe(false);
    kv.release();
    const seen = await read;
    expect(seen.commitTs).toBe(1n);
    expect(engine.commitTs()).toBe(1n);
    const events = [];
    for await (const event of engine.replay("default", "a")) events.push(event.commitTs);
    expect(events).toEqual([1n]);
    expect((await pending).commitTs).toBe(1n);
  });

  it("does not remember versions of a batch whose write failed: the next commit sees storage", async () => {
    const { kv, engine } = await open();
    kv.setRates({ beforePersist: 1, afterPersist: 0, onReopen: 0 });
    const failed = await expectEngineError(engine.transact({ operations: [{ ...ref("k"), value: { n: 1 } }] }), "STORAGE_ERROR");
    expect(failed.details["outcome"]).toBe("unknown");
    kv.setRates(HEALTHY);
    // Version 1 was never durable: a commit expecting "k" not to exist goes through as version 1.
    const { commitTs } = await engine.transact({ operations: [{ ...ref("k"), value: { n: 2 } }], preconditions: [{ ...ref("k"), mustNotExist: true }] });
    expect(commitTs).toBe(1n);
    expect((await engine.get(ref("k"))).version).toBe(1n);
  });

  it("reconciles a write that failed after persisting: its commit_ts is not handed out again", async () => {
    const { kv, engine } = await open();
    kv.setRates({ beforePersist: 0, afterPersist: 1, onReopen: 0 });
    await expectEngineError(engine.transact({ operations: [{ ...ref("k"), value: { n: 1 } }], idempotencyKey: "once" }), "STORAGE_ERROR");
    kv.setRates(HEALTHY);
    const retry = await engine.transact({ operations: [{ ...ref("k"), value: { n: 1 } }], idempotencyKey: "once" });
    expect(retry).toMatchObject({ commitTs: 1n, duplicate: true });
    expect((await engine.transact({ operations: [{ ...ref("k"), value: { n: 2 } }] })).commitTs).toBe(2n);
    expect((await engine.get(ref("k"))).version).toBe(2n);
  });

  it("close waits for the write in flight, and what it acknowledged is there after a reopen", async () => {
    const { kv, engine, dir } = await open();
    kv.hold = "before";
    const pending = engine.transact({ operations: [{ ...ref("k"), value: { n: 1 } }] });
    await kv.whenHeld();
    const closing = engine.close();
    expect(await settlesWithin(closing)).toBe(false);
    kv.release();
    expect((await pending).commitTs).toBe(1n);
    await closing;
    const reopened = await openEngineOn(await RocksKv.open(join(dir, "db")), dir, { idempotencyPurgeIntervalMs: 0 });
    cleanups.push(() => reopened.close());
    expect(await reopened.get(ref("k"))).toMatchObject({ value: { n: 1 }, version: 1n, commitTs: 1n });
  });
});
