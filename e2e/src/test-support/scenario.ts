// One crash scenario: a fresh daemon (temp data dir) owned by the harness,
// one SDK driver process as the client, and the expected store.
import { expect, onTestFailed } from "vitest";
import { compareWithState, foldEvents } from "../check/agent-history.js";
import type { OpSpec } from "../drivers/protocol.js";
import { DaemonHarness, type DaemonHarnessOptions, type DaemonRun, type DaemonRunOptions, type ExitInfo } from "../harness/daemon-harness.js";
import { DriverProcess, type CallOutcome, type SdkName } from "../harness/driver-process.js";
import { normalizeEvents, StoreModel } from "./store-model.js";

export interface Scenario {
  sdk: SdkName;
  harness: DaemonHarness;
  driver: DriverProcess;
  model: StoreModel;
}

export interface ScenarioOptions extends DaemonHarnessOptions {
  /** Options of the first run (e.g. a failpoint). */
  first?: DaemonRunOptions;
}

/** Starts a daemon and a driver, runs `body`, and always tears both down. On failure, prints the daemon logs. */
export async function runScenario(sdk: SdkName, options: ScenarioOptions, body: (scenario: Scenario) => Promise<void>): Promise<void> {
  const harness = await DaemonHarness.create({ name: `${options.name ?? "scenario"}-${sdk}`, ...options });
  let driver: DriverProcess | undefined;
  onTestFailed(() => {
    for (const run of harness.runs) console.log(`--- ${run.describe()} log tail ---\n${run.tail(40)}`);
    if (driver) console.log(`--- ${driver.label} stderr ---\n${driver.stderrTail()}`);
  });
  try {
    await harness.start(options.first);
    driver = await DriverProcess.spawn(sdk, { url: harness.url });
    await body({ sdk, harness, driver, model: new StoreModel() });
  } finally {
    await driver?.close();
    await harness.dispose();
  }
}

/** A unique, self-describing value: every value written carries the uid of its transaction. */
export function value(uid: string, extra: Record<string, string | number | boolean> = {}): OpSpec["value"] {
  return { uid, ...extra };
}

/** Commits `ops` through the driver's SDK; expects success and records it in the model. */
export async function commit(scenario: Scenario, ops: OpSpec[]): Promise<number> {
  const outcome = await scenario.driver.call({ op: "txn", ops });
  if (!outcome.ok) throw new Error(`commit failed: ${JSON.stringify(outcome.error)}`);
  scenario.model.apply(outcome.result.commit_ts, ops);
  return outcome.result.commit_ts;
}

/** Expects the SDK call to have failed with the SDK's ConnectionError. */
export function expectConnectionError(outcome: CallOutcome<unknown>): void {
  expect(outcome.ok, "the call should have failed").toBe(false);
  if (outcome.ok) return;
  expect(outcome.error.class).toBe("ConnectionError");
  expect(outcome.error.statehouse, "it must be the SDK's ConnectionError (a StatehouseError)").toBe(true);
}

/** Expects a process to have been ended by SIGKILL (by the harness or by a failpoint). */
export function expectSigkilled(exit: ExitInfo): void {
  expect(exit).toEqual({ code: null, signal: "SIGKILL" });
}

/**
 * Checks, through the scenario's SDK, that `agent` is exactly what the model
 * says: replay (commit_ts order, operations, versions contiguous), the state
 * of every key, list_keys, and that folding the replay gives the state.
 */
export async function expectAgent(scenario: Scenario, agent: string): Promise<void> {
  const { driver, model } = scenario;
  const replay = (await driver.request({ op: "replay", agent })).events;
  expect(normalizeEvents(replay), `replay of ${agent}`).toEqual(model.events(agent));
  const folded = foldEvents(agent, replay);
  expect(folded.problems).toEqual([]);
  const observed = new Map();
  for (const key of model.state(agent).keys()) observed.set(key, await driver.request({ op: "get", agent, key }));
  observed.set("never-written", await driver.request({ op: "get", agent, key: "never-written" }));
  expect(Object.fromEntries(observed), `state of ${agent}`).toEqual(
    Object.fromEntries([...model.state(agent), ["never-written", { exists: false, value: null, version: 0, commit_ts: 0 }]]),
  );
  const keys = (await driver.request({ op: "list_keys", agent })).keys;
  expect(compareWithState(agent, folded, observed, keys)).toEqual([]);
  expect([...keys].sort()).toEqual(model.keys(agent));
}

/** Expects the run's ready file and recovery log line to report the model's last commit_ts. */
export function expectRecoveredTo(run: DaemonRun, commitTs: number): void {
  expect(run.readyInfo?.commitTs, "commit_ts in the ready file").toBe(BigInt(commitTs));
  const facts = run.recovery();
  expect(facts.line, `a recovery log line\n${run.tail()}`).toBeDefined();
  expect(facts.commitTs, "commit_ts in the recovery log line").toBe(BigInt(commitTs));
  expect(facts.storage).toBe("rocksdb");
}
