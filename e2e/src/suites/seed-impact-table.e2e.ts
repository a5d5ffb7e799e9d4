// The four rows of the user's crash table (shared/seed/process-crash.txt),
// from each SDK, against the real daemon killed with SIGKILL:
//   Idle                          -> no data loss
//   Mid-transaction (uncommitted) -> that transaction lost, the client sees ConnectionError
//   During commit (with fsync)    -> atomic: all (crash after the sync) or nothing (before it)
//   After commit                  -> durable
// Each row asserts state, versions, the agent's replay and commit_ts after the restart,
// and that the same client object works again.
import { describe, expect, it } from "vitest";
import { SDKS } from "../harness/driver-process.js";
import { commit, expectAgent, expectConnectionError, expectRecoveredTo, expectSigkilled, runScenario, value } from "../test-support/scenario.js";

const AGENT = "seed-agent";

describe.each(SDKS)("seed crash table from the %s SDK", (sdk) => {
  it("idle: nothing is lost", async () => {
    await runScenario(sdk, { name: "idle" }, async (scenario) => {
      const { harness, driver, model } = scenario;
      const c1 = await commit(scenario, [
        { agent: AGENT, key: "profile", value: value("t1", { name: "ada" }) },
        { agent: AGENT, key: "plan", value: value("t1", { step: 1 }) },
        { agent: AGENT, key: "scratch", value: value("t1") },
      ]);
      const c2 = await commit(scenario, [
        { agent: AGENT, key: "plan", value: value("t2", { step: 2 }) },
        { agent: AGENT, key: "scratch", value: null },
      ]);
      expect(c2).toBeGreaterThan(c1);
      // Idle: the client has its answers and is doing nothing.
      expect((await driver.request({ op: "health" })).status).toBe("ok");
      expectSigkilled(await harness.kill());
      const run = await harness.start();
      expectRecoveredTo(run, c2);
      expect(run.recovery().eventsReplayed, "no snapshot yet: every event is replayed").toBe(model.size);
      await expectAgent(scenario, AGENT);
      const c3 = await commit(scenario, [{ agent: AGENT, key: "plan", value: value("t3", { step: 3 }) }]);
      expect(c3, "commit_ts never goes back after a restart").toBeGreaterThan(c2);
      await expectAgent(scenario, AGENT);
    });
  });

  it("mid-transaction: the uncommitted transaction is lost, the client sees ConnectionError, a retry succeeds", async () => {
    await runScenario(sdk, { name: "mid-txn" }, async (scenario) => {
      const { harness, driver } = scenario;
      const c1 = await commit(scenario, [{ agent: AGENT, key: "plan", value: value("t1", { step: 1 }) }]);
      const t2 = [
        { agent: AGENT, key: "plan", value: value("t2", { step: 2 }) },
        { agent: AGENT, key: "draft", value: value("t2") },
      ];
      // begin + stage the writes, then the daemon dies before the commit is sent.
      const txn = driver.pausedTxn({ ops: t2 });
      await txn.paused;
      expectSigkilled(await harness.kill());
      txn.resume();
      const outcome = await txn.done;
      expectConnectionError(outcome);
      if (!outcome.ok) expect(outcome.error.stage).toBe("commit");
      const run = await harness.start();
      expectRecoveredTo(run, c1);
      await expectAgent(scenario, AGENT);
      // The client retries on the same client object: it succeeds.
      const c2 = await commit(scenario, t2);
      expect(c2).toBeGreaterThan(c1);
      await expectAgent(scenario, AGENT);
    });
  });

  it("during commit, crash before the log sync: nothing of the transaction survives", async () => {
    await runScenario(sdk, { name: "before-sync", first: { failpoint: "commit:before-sync@2" } }, async (scenario) => {
      const { harness, driver } = scenario;
      const c1 = await commit(scenario, [
        { agent: AGENT, key: "plan", value: value("t1", { step: 1 }) },
        { agent: AGENT, key: "notes", value: value("t1") },
      ]);
      const outcome = await driver.call({
        op: "txn",
        ops: [
          { agent: AGENT, key: "plan", value: value("t2", { step: 2 }) },
          { agent: AGENT, key: "notes", value: null },
          { agent: AGENT, key: "result", value: value("t2") },
        ],
      });
      expectConnectionError(outcome);
      expectSigkilled(await harness.waitForExit());
      const run = await harness.start();
      expectRecoveredTo(run, c1);
      await expectAgent(scenario, AGENT);
      expect(await commit(scenario, [{ agent: AGENT, key: "plan", value: value("t3") }])).toBeGreaterThan(c1);
      await expectAgent(scenario, AGENT);
    });
  });

  it("during commit, crash after the log sync but before the reply: all of it survives", async () => {
    await runScenario(sdk, { name: "after-sync", first: { failpoint: "commit:after-sync-before-reply@2" } }, async (scenario) => {
      const { harness, driver, model } = scenario;
      const c1 = await commit(scenario, [
        { agent: AGENT, key: "plan", value: value("t1", { step: 1 }) },
        { agent: AGENT, key: "notes", value: value("t1") },
      ]);
      const t2 = [
        { agent: AGENT, key: "plan", value: value("t2", { step: 2 }) },
        { agent: AGENT, key: "notes", value: null },
        { agent: AGENT, key: "result", value: value("t2") },
      ];
      const outcome = await driver.call({ op: "txn", ops: t2 });
      // The client never got its answer...
      expectConnectionError(outcome);
      expectSigkilled(await harness.waitForExit());
      const run = await harness.start();
      // ...but the transaction was synced, so it is there, whole, right after c1.
      const recovered = Number(run.readyInfo?.commitTs);
      expect(recovered).toBeGreaterThan(c1);
      model.apply(recovered, t2);
      expectRecoveredTo(run, recovered);
      await expectAgent(scenario, AGENT);
    });
  });

  it("after commit: an acknowledged transaction is durable even when the kill follows at once", async () => {
    await runScenario(sdk, { name: "after-commit" }, async (scenario) => {
      const { harness } = scenario;
      await commit(scenario, [{ agent: AGENT, key: "plan", value: value("t1", { step: 1 }) }]);
      const c2 = await commit(scenario, [
        { agent: AGENT, key: "plan", value: value("t2", { step: 2 }) },
        { agent: "other-agent", key: "answer", value: value("t2", { final: true }) },
      ]);
      // No pause between the acknowledgement and the kill.
      expectSigkilled(await harness.kill());
      const run = await harness.start();
      expectRecoveredTo(run, c2);
      await expectAgent(scenario, AGENT);
      await expectAgent(scenario, "other-agent");
    });
  });
});
