// Disk full: the daemon's data dir on a 64 MiB tmpfs that a filler file fills
// up, so it really runs out of space (64, not 16 MiB: RocksDB preallocates
// ~13 MiB for its log and manifest, the log holds ~8 MiB before a commit
// needs new space, and the recovery after the restart writes that much again
// as a table file). Commits fail with a clear STORAGE_FULL error (from both SDKs) while
// reads keep working; once space is freed, commits succeed again; and after
// a SIGKILL and restart nothing acknowledged is lost and nothing is corrupted.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import type { OpSpec } from "../drivers/protocol.js";
import { DaemonHarness } from "../harness/daemon-harness.js";
import { DriverProcess, SDKS, type SdkName } from "../harness/driver-process.js";
import { mountTmpfs, type Tmpfs } from "../harness/tmpfs.js";
import { expectAgent, expectRecoveredTo, expectSigkilled, type Scenario } from "../test-support/scenario.js";
import { StoreModel } from "../test-support/store-model.js";

const AGENT = "disk-agent";
const BIG = "x".repeat(400_000);

let tmpfs: Tmpfs;
let harness: DaemonHarness;
const drivers = new Map<SdkName, DriverProcess>();
const model = new StoreModel();
/** Commits that failed with STORAGE_FULL: they must never show up. */
const rejected: string[] = [];

function scenario(sdk: SdkName): Scenario {
  const driver = drivers.get(sdk);
  if (driver === undefined) throw new Error(`no ${sdk} driver`);
  return { sdk, harness, driver, model };
}

beforeAll(async () => {
  tmpfs = await mountTmpfs(64);
  harness = await DaemonHarness.create({ name: "disk-full", dataDir: join(tmpfs.dir, "data") });
  await harness.start();
  for (const sdk of SDKS) drivers.set(sdk, await DriverProcess.spawn(sdk, { url: harness.url }));
});

afterAll(async () => {
  await Promise.all([...drivers.values()].map((driver) => driver.close()));
  await harness?.dispose();
  await tmpfs?.unmount();
});

function logsOnFailure(): void {
  onTestFailed(() => {
    for (const run of harness.runs) console.log(`--- ${run.describe()} log tail ---\n${run.tail(30)}`);
  });
}

async function tryCommit(sdk: SdkName, uid: string, ops: OpSpec[]): ReturnType<DriverProcess["call"]> {
  const outcome = await scenario(sdk).driver.call({ op: "txn", ops });
  if (outcome.ok) model.apply(outcome.result.commit_ts, ops);
  else rejected.push(uid);
  return outcome;
}

describe("disk full (data dir on a full tmpfs)", () => {
  it("commits fail with STORAGE_FULL from both SDKs while reads keep working", async () => {
    logsOnFailure();
    for (const sdk of SDKS) {
      const outcome = await tryCommit(sdk, `base-${sdk}`, [{ agent: AGENT, key: `base-${sdk}`, value: { uid: `base-${sdk}` } }]);
      expect(outcome.ok).toBe(true);
    }
    const filled = tmpfs.fill("filler");
    expect(filled).toBeGreaterThan(0);
    // RocksDB has some space of its own (the preallocated log): write until it is used up.
    let failure: Awaited<ReturnType<typeof tryCommit>> | undefined;
    for (let n = 0; n < 80 && failure === undefined; n++) {
      const sdk = SDKS[n % SDKS.length] ?? "ts";
      const outcome = await tryCommit(sdk, `big-${n}`, [{ agent: AGENT, key: `big-${n % 5}`, value: { uid: `big-${n}`, big: BIG } }]);
      if (!outcome.ok) failure = outcome;
    }
    expect(failure, "a commit must fail once the disk is full").toBeDefined();
    if (failure?.ok === false) console.log(`[disk-full] first rejected commit: ${failure.error.class} ${failure.error.code}: ${failure.error.message}`);
    for (const sdk of SDKS) {
      const outcome = await tryCommit(sdk, `full-${sdk}`, [{ agent: AGENT, key: "small", value: { uid: `full-${sdk}` } }]);
      expect(outcome.ok).toBe(false);
      if (outcome.ok) continue;
      expect(outcome.error.statehouse, `${sdk}: the SDK's own error type`).toBe(true);
      expect(outcome.error.code, `${sdk}: ${outcome.error.message}`).toBe("STORAGE_FULL");
      expect(outcome.error.message).toMatch(/full|space/i);
    }
    expect(harness.current?.alive, "the daemon keeps running").toBe(true);
    // Reads work: state, replay and list_keys from both SDKs match every acknowledged commit.
    for (const sdk of SDKS) await expectAgent(scenario(sdk), AGENT);
  });

  it("after space frees, commits succeed again without a restart", async () => {
    logsOnFailure();
    await rm(join(tmpfs.dir, "filler"));
    for (const sdk of SDKS) {
      let last: Awaited<ReturnType<typeof tryCommit>> | undefined;
      for (let attempt = 0; attempt < 40; attempt++) {
        last = await tryCommit(sdk, `freed-${sdk}-${attempt}`, [{ agent: AGENT, key: `freed-${sdk}`, value: { uid: `freed-${sdk}-${attempt}` } }]);
        if (last.ok) {
          console.log(`[disk-full] ${sdk}: commits succeed again after ${attempt} rejected attempt(s) since space was freed`);
          break;
        }
        await sleep(250);
      }
      expect(last?.ok ? "ok" : last?.error, `${sdk}: a commit within 10 s of freeing space`).toBe("ok");
    }
    for (const sdk of SDKS) await expectAgent(scenario(sdk), AGENT);
  });

  it("after a SIGKILL and restart nothing acknowledged is lost, nothing rejected appears, and commits work", async () => {
    logsOnFailure();
    await rm(join(tmpfs.dir, "filler"), { force: true });
    expectSigkilled(await harness.kill());
    const run = await harness.start();
    expectRecoveredTo(run, model.lastCommitTs);
    for (const sdk of SDKS) await expectAgent(scenario(sdk), AGENT);
    // The rejected commits are nowhere in the log.
    const replay = (await scenario("python").driver.request({ op: "replay", agent: AGENT })).events;
    const uids = new Set(replay.flatMap((event) => event.operations.map((op) => String(op.value?.["uid"]))));
    expect(rejected.filter((uid) => uids.has(uid))).toEqual([]);
    for (const sdk of SDKS) {
      const outcome = await tryCommit(sdk, `after-restart-${sdk}`, [{ agent: AGENT, key: "after-restart", value: { uid: `after-restart-${sdk}` } }]);
      expect(outcome.ok).toBe(true);
    }
    for (const sdk of SDKS) await expectAgent(scenario(sdk), AGENT);
  });
});
