// The kill campaign and the linearizability check (see ../campaign/kill-campaign.ts).
// STATEHOUSE_E2E_KILLS sets the number of kills (default 30; e.g. 1000 for the long run),
// STATEHOUSE_E2E_SEED replays a campaign's random choices.
import { expect, it } from "vitest";
import { findings, formatTotals, NO_FINDINGS, runKillCampaign } from "../campaign/kill-campaign.js";

const kills = Number(process.env["STATEHOUSE_E2E_KILLS"] ?? "30");
const seed = Number(process.env["STATEHOUSE_E2E_SEED"] ?? Math.floor(Math.random() * 2 ** 31));

it(
  `survives ${kills} SIGKILLs under concurrent Python and TypeScript writers: nothing acknowledged lost, nothing partial, linearizable`,
  async () => {
    expect(Number.isSafeInteger(kills) && kills > 0, "STATEHOUSE_E2E_KILLS must be a positive integer").toBe(true);
    console.log(`[campaign] seed ${seed} (STATEHOUSE_E2E_SEED=${seed} replays the random choices)`);
    const totals = await runKillCampaign({
      kills,
      seed,
      writers: ["python", "ts", "python", "ts"],
      log: (line) => console.log(line),
    });
    console.log(formatTotals(totals));
    for (const problem of totals.problems) console.log(`  problem: ${problem}`);
    for (const violation of totals.linearizability.violations.slice(0, 20)) console.log(`  violation: ${violation}`);
    for (const error of totals.unexpectedErrors.slice(0, 20)) console.log(`  unexpected error: ${error}`);
    expect(totals.kills).toBeGreaterThanOrEqual(kills);
    expect(totals.acknowledged, "the writers got commits through").toBeGreaterThan(0);
    expect(totals.linearizability.reads, "reads were checked").toBeGreaterThan(0);
    expect(findings(totals)).toEqual(NO_FINDINGS);
  },
  // About 1-2 s per kill on 2 cores, plus headroom.
  120_000 + kills * 6_000,
);
