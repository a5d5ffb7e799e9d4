// The client's retry after a crash, from each SDK:
// - run_transaction / withTransaction: the daemon dies after syncing a commit
//   but before replying; the SDK retries across the restart with the same
//   idempotency key (resending the commit, or re-running the function), and
//   the increment is applied exactly once.
// - an explicit idempotency key is remembered across a SIGKILL: committing
//   the same operations again after the restart applies nothing and returns the
//   original commit_ts; other operations under the same key are refused.
import { describe, expect, it } from "vitest";
import { SDKS } from "../harness/driver-process.js";
import { expectAgent, expectRecoveredTo, expectSigkilled, runScenario, value } from "../test-support/scenario.js";

const AGENT = "retry-agent";
const COUNTER = { agent: AGENT, key: "counter" };

describe.each(SDKS)("client retry after a restart, from the %s SDK", (sdk) => {
  it("a retried transaction whose reply was lost is applied exactly once", async () => {
    await runScenario(sdk, { name: "retry", first: { failpoint: "commit:after-sync-before-reply@2" } }, async (scenario) => {
      const { harness, driver, model } = scenario;
      const first = await driver.request({ op: "run_txn", ops: [], counter: COUNTER, uid: "inc-1", retries: 3 });
      expect(first).toMatchObject({ attempts: 1, counter: 1, duplicate: false });
      model.apply(first.commit_ts, [{ ...COUNTER, value: { n: 1, uid: "inc-1" } }]);

      const side = { agent: AGENT, key: "side-effect", value: value("inc-2") };
      const pending = driver.call({ op: "run_txn", ops: [side], counter: COUNTER, uid: "inc-2", retries: 12 });
      pending.catch(() => undefined); // awaited below; this only keeps an early failure from also reporting it as unhandled
      // The second commit is synced, then the daemon dies before answering.
      expectSigkilled(await harness.waitForExit());
      const run = await harness.start();
      const outcome = await pending;
      expect(outcome.ok ? "ok" : outcome.error).toBe("ok");
      if (!outcome.ok) return;
      expect(outcome.result.duplicate, "the retry found its idempotency key committed").toBe(true);
      // Both SDKs resend the same commit (the function ran once and wrote n=2): an
      // idempotency key is bound to its content, so re-running the function (it would
      // see n=2 and want 3) under the same key would be refused, not deduplicated.
      expect(outcome.result.counter).toBe(2);
      const recovered = Number(run.readyInfo?.commitTs);
      expect(outcome.result.commit_ts, "the original commit_ts is returned").toBe(recovered);
      model.apply(recovered, [{ ...COUNTER, value: { n: 2, uid: "inc-2" } }, side]);
      expectRecoveredTo(run, recovered);
      await expectAgent(scenario, AGENT);
      const state = await driver.request({ op: "get", ...COUNTER });
      expect(state).toMatchObject({ value: { n: 2 }, version: 2 });
    });
  });

  it("an idempotency key committed before a SIGKILL is still known after the restart", async () => {
    await runScenario(sdk, { name: "idempotency" }, async (scenario) => {
      const { harness, driver, model } = scenario;
      const key = `idem-${sdk}-1`;
      const ops = [{ agent: AGENT, key: "order", value: value("order-1", { qty: 1 }) }];
      const first = await driver.request({ op: "txn", ops, idempotency_key: key });
      expect(first.duplicate).toBe(false);
      model.apply(first.commit_ts, ops);
      expectSigkilled(await harness.kill());
      const run = await harness.start();
      expectRecoveredTo(run, first.commit_ts);
      // Same key, same content: nothing applies, the original commit_ts comes back.
      const again = await driver.request({ op: "txn", ops, idempotency_key: key });
      expect(again).toMatchObject({ commit_ts: first.commit_ts, duplicate: true });
      // Same key, other content: refused, naming the key; nothing applies.
      const reused = await driver.call({
        op: "txn",
        ops: [{ agent: AGENT, key: "order", value: value("order-1-retry", { qty: 2 }) }],
        idempotency_key: key,
      });
      expect(reused.ok).toBe(false);
      if (!reused.ok) {
        expect(reused.error.statehouse).toBe(true);
        expect(reused.error.message).toContain(key);
      }
      await expectAgent(scenario, AGENT);
    });
  });
});
