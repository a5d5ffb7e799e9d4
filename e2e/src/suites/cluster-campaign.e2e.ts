// The kill campaign on a cluster (see ../campaign/cluster-campaign.ts): 3 statehoused on one
// PostgreSQL, SIGKILL of random daemons and of the postmaster.
// STATEHOUSE_E2E_CLUSTER_KILLS sets the number of kills (default 8, about a minute; e.g. 200 for the long run),
// STATEHOUSE_E2E_SEED replays a campaign's random choices.
import { expect, it } from "vitest";
import { runClusterCampaign } from "../campaign/cluster-campaign.js";
import { formatTotals } from "../campaign/kill-campaign.js";

const kills = Number(process.env["STATEHOUSE_E2E_CLUSTER_KILLS"] ?? "8");
const seed = Number(process.env["STATEHOUSE_E2E_SEED"] ?? Math.floor(Math.random() * 2 ** 31));

it(
  `a cluster of 3 daemons on one PostgreSQL survives ${kills} SIGKILLs of daemons and of the postmaster: nothing acknowledged lost, nothing partial, one truth, linearizable`,
  async () => {
    expect(Number.isSafeInteger(kills) && kills > 0, "STATEHOUSE_E2E_CLUSTER_KILLS must be a positive integer").toBe(true);
    console.log(`[cluster] seed ${seed} (STATEHOUSE_E2E_SEED=${seed} replays the random choices)`);
    const totals = await runClusterCampaign({ kills, seed, daemons: 3, writers: ["python", "ts", "python", "ts"], postgresShare: Number(process.env["STATEHOUSE_E2E_CLUSTER_PG_SHARE"] ?? "0.25"), log: (line) => console.log(line) });
    console.log(formatTotals(totals));
    console.log(`  daemon kills ${totals.daemonKills}, postmaster kills ${totals.postgresKills}, cross-daemon agreement checks ${totals.agreementChecks}`);
    for (const problem of totals.problems) console.log(`  problem: ${problem}`);
    for (const violation of totals.linearizability.violations.slice(0, 20)) console.log(`  violation: ${violation}`);
    for (const error of totals.unexpectedErrors.slice(0, 20)) console.log(`  unexpected error: ${error}`);
    expect(totals.kills).toBeGreaterThanOrEqual(kills);
    expect(totals.acknowledged, "the writers got commits through").toBeGreaterThan(0);
    expect(totals.linearizability.reads, "reads were checked").toBeGreaterThan(0);
    expect({
      lost: totals.lost,
      partial: totals.partial,
      phantom: totals.phantom,
      problems: totals.problemCount,
      violations: totals.linearizability.violations.length,
      unexpectedErrors: totals.unexpectedErrors.length,
    }).toEqual({ lost: 0, partial: 0, phantom: 0, problems: 0, violations: 0, unexpectedErrors: 0 });
  },
  180_000 + kills * 10_000,
);
