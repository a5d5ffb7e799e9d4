// Crashes inside the recovery machinery itself, from each SDK:
// - SIGKILL in the middle of writing a snapshot: the half-written snapshot is
//   never used, nothing acknowledged is lost; a later complete snapshot is
//   loaded and only the events after it are replayed.
// - SIGKILL in the middle of recovery (replaying events): the next restart
//   recovers everything, as if the failed recovery never happened.
import { describe, expect, it } from "vitest";
import type { OpSpec } from "../drivers/protocol.js";
import { DaemonExitedError } from "../harness/daemon-harness.js";
import { SDKS } from "../harness/driver-process.js";
import {
  commit,
  expectAgent,
  expectRecoveredTo,
  expectSigkilled,
  runScenario,
  value,
  type Scenario,
} from "../test-support/scenario.js";

const AGENT = "snapshot-agent";

function step(uid: string, n: number): OpSpec[] {
  return [
    { agent: AGENT, key: "plan", value: value(uid, { step: n }) },
    { agent: AGENT, key: `step-${n % 7}`, value: n % 5 === 4 ? null : value(uid, { n }) },
    { agent: "audit", key: "last", value: value(uid, { n }) },
  ];
}

/** After a crash, an interrupted commit may or may not be there: look it up in the replay and complete the model. */
async function settleUnknown(scenario: Scenario, uid: string, ops: OpSpec[]): Promise<void> {
  const events = (await scenario.driver.request({ op: "replay", agent: "audit" })).events;
  const found = events.find((event) => event.operations.some((op) => op.value?.["uid"] === uid));
  if (found !== undefined) scenario.model.apply(found.commit_ts, ops);
}

describe.each(SDKS)("crashes in snapshot writing and in recovery, from the %s SDK", (sdk) => {
  it("a crash while a snapshot is written loses nothing; a later snapshot is loaded and only newer events replayed", async () => {
    // Debug logging: the engine logs "snapshot written" at debug level.
    const options = {
      name: "snapshot",
      env: { STATEHOUSE_SNAPSHOT_INTERVAL: "5", STATEHOUSE_LOG_LEVEL: "debug" },
      first: { failpoint: "snapshot:mid-write" },
    };
    await runScenario(sdk, options, async (scenario) => {
      const { harness, driver, model } = scenario;
      let n = 0;
      let interrupted: { uid: string; ops: OpSpec[] } | undefined;
      // Commit until the first snapshot write kills the daemon.
      while (interrupted === undefined && n < 40) {
        n++;
        const ops = step(`s${n}`, n);
        const outcome = await driver.call({ op: "txn", ops });
        if (outcome.ok) model.apply(outcome.result.commit_ts, ops);
        else interrupted = { uid: `s${n}`, ops };
      }
      expect(interrupted, "the snapshot:mid-write failpoint should have killed the daemon").toBeDefined();
      expectSigkilled(await harness.waitForExit());
      const run = await harness.start();
      if (interrupted) await settleUnknown(scenario, interrupted.uid, interrupted.ops);
      expectRecoveredTo(run, model.lastCommitTs);
      const first = run.recovery();
      expect(first.snapshotTs ?? null, "the half-written snapshot must not be loaded").toBeNull();
      expect(first.eventsReplayed).toBe(model.size);
      await expectAgent(scenario, AGENT);
      await expectAgent(scenario, "audit");

      // Enough commits for complete snapshots now, then wait until one is on disk.
      const target = model.lastCommitTs + 7;
      while (model.lastCommitTs < target) {
        n++;
        await commit(scenario, step(`s${n}`, n));
      }
      await run.waitForLog((line) => line.json?.["msg"] === "snapshot written", "a snapshot written");
      n++;
      await commit(scenario, step(`s${n}`, n));
      expectSigkilled(await harness.kill());
      const again = await harness.start();
      expectRecoveredTo(again, model.lastCommitTs);
      const second = again.recovery();
      expect(second.snapshotTs, "a complete snapshot is loaded").toBeGreaterThan(0n);
      const snapshotTs = Number(second.snapshotTs);
      expect(snapshotTs).toBeLessThan(model.lastCommitTs);
      const newer = model.events("audit").filter((event) => event.commit_ts > snapshotTs).length;
      expect(second.eventsReplayed, "only the events after the snapshot are replayed").toBe(newer);
      await expectAgent(scenario, AGENT);
      await expectAgent(scenario, "audit");
    });
  });

  it("a crash during recovery is recovered by the next restart", async () => {
    const options = { name: "recovery", env: { STATEHOUSE_SNAPSHOT_INTERVAL: "1000000" } };
    await runScenario(sdk, options, async (scenario) => {
      const { harness } = scenario;
      for (let n = 1; n <= 8; n++) await commit(scenario, step(`r${n}`, n));
      expectSigkilled(await harness.kill());
      // Two recoveries in a row die half-way through replaying the log.
      for (const failpoint of ["recovery:mid-replay@3", "recovery:mid-replay"]) {
        const error = await harness.start({ failpoint }).catch((caught: unknown) => caught);
        expect(error, `restart with ${failpoint} must die before serving`).toBeInstanceOf(DaemonExitedError);
        if (error instanceof DaemonExitedError) expectSigkilled(error.exit);
      }
      const run = await harness.start();
      expectRecoveredTo(run, scenario.model.lastCommitTs);
      expect(run.recovery().eventsReplayed).toBe(8);
      await expectAgent(scenario, AGENT);
      await expectAgent(scenario, "audit");
      expect(await commit(scenario, step("r9", 9))).toBeGreaterThan(8);
      await expectAgent(scenario, AGENT);
    });
  });
});
