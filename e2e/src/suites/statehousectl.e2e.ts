// statehousectl against a daemon that was SIGKILLed and restarted: health,
// get, keys and replay show exactly what the SDK wrote before the crash.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { SDKS } from "../harness/driver-process.js";
import { cleanEnv, statehousectlBin } from "../harness/paths.js";
import { commit, expectRecoveredTo, expectSigkilled, runScenario, value } from "../test-support/scenario.js";

const run = promisify(execFile);
const AGENT = "cli-agent";

async function statehousectl(address: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(statehousectlBin, ["--address", address, ...args], { env: cleanEnv(), timeout: 30_000 });
  return stdout;
}

describe.each(SDKS)("statehousectl after a restart (data written by the %s SDK)", (sdk) => {
  it("health, get, keys and replay see every acknowledged write", async () => {
    await runScenario(sdk, { name: "cli" }, async (scenario) => {
      const { harness, model } = scenario;
      await commit(scenario, [
        { agent: AGENT, key: "plan", value: value("t1", { step: 1 }) },
        { agent: AGENT, key: "note/1", value: value("t1", { text: "hello" }) },
      ]);
      const c2 = await commit(scenario, [
        { agent: AGENT, key: "plan", value: value("t2", { step: 2 }) },
        { agent: AGENT, key: "note/1", value: null },
        { agent: AGENT, key: "final/answer", value: value("t2", { answer: 42 }) },
      ]);
      expectSigkilled(await harness.kill());
      const restarted = await harness.start();
      expectRecoveredTo(restarted, c2);

      // The original statehousectl's output (failures on stderr).
      expect((await statehousectl(harness.address, "health")).trim()).toBe("✓ Daemon is healthy");
      const plan = JSON.parse(await statehousectl(harness.address, "get", AGENT, "plan", "--json-output")) as Record<string, unknown>;
      expect(plan).toEqual({ key: "plan", version: 2, commit_ts: c2, value: { uid: "t2", step: 2 } });
      // A deleted key is reported as missing (non-zero exit, one line on stderr).
      const deleted = await statehousectl(harness.address, "get", AGENT, "note/1").catch((error: unknown) => error);
      expect(deleted).toBeInstanceOf(Error);
      expect(String((deleted as { stderr?: string }).stderr).trim()).toBe("✗ Key not found");
      const listing = (await statehousectl(harness.address, "keys", AGENT)).trim().split("\n");
      const keys = listing.filter((line) => line.startsWith("  - ")).map((line) => line.slice(4));
      expect(keys.sort()).toEqual(model.keys(AGENT));
      expect(listing.at(-1)).toBe(`Total: ${keys.length}`);
      const replay = (await statehousectl(harness.address, "replay", AGENT, "--json"))
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { commit_ts: number; agent_id: string; operations: Array<{ key: string; value: unknown; version: number }> });
      expect(
        replay.map((event) => ({
          commit_ts: event.commit_ts,
          operations: [...event.operations].sort((a, b) => (a.key < b.key ? -1 : 1)),
        })),
      ).toEqual(model.events(AGENT));
      expect(replay.every((event) => event.agent_id === AGENT)).toBe(true);
      const pretty = await statehousectl(harness.address, "replay", AGENT);
      expect(pretty).toMatch(/FINAL\s+key=final\/answer/);
    });
  });
});
