// The kill campaign with power cuts instead of plain SIGKILLs: the daemon's data dir is on the
// power-loss filesystem (../harness/power-loss-fs.ts), which loses every byte not fsynced when
// the power goes. After a SIGKILL the page cache survives, so only this can tell fsync from no
// fsync: with fsync on nothing acknowledged may be lost; with STATEHOUSE_FSYNC_ON_COMMIT=0 the
// same campaign must lose acknowledged commits, or the filesystem would not be cutting power.
// STATEHOUSE_E2E_POWER_CUTS sets the number of cuts (default 5; bench/results has a longer run).
import { afterEach, expect, it } from "vitest";
import { findings, formatTotals, NO_FINDINGS, runKillCampaign, type CampaignTotals } from "../campaign/kill-campaign.js";
import { PowerLossFs } from "../harness/power-loss-fs.js";

const cuts = Number(process.env["STATEHOUSE_E2E_POWER_CUTS"] ?? "5");
const seed = Number(process.env["STATEHOUSE_E2E_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
let fs: PowerLossFs | null = null;

afterEach(async () => {
  await fs?.unmount();
  fs = null;
});

async function campaign(kills: number, env: Record<string, string>, failpointShare?: number): Promise<CampaignTotals> {
  fs = await PowerLossFs.mount();
  console.log(`[power-loss] seed ${seed} (STATEHOUSE_E2E_SEED=${seed} replays the random choices), ${JSON.stringify(env)}`);
  const totals = await runKillCampaign({
    kills,
    seed,
    writers: ["python", "ts"],
    env,
    powerLoss: fs,
    log: (line) => console.log(line),
    ...(failpointShare === undefined ? {} : { failpointShare }),
  });
  console.log(formatTotals(totals));
  console.log(`  power cuts:            ${fs.cuts}`);
  for (const problem of totals.problems.slice(0, 10)) console.log(`  problem: ${problem}`);
  expect(fs.cuts).toBe(totals.kills);
  return totals;
}

it(
  `survives ${cuts} power cuts with fsync on: nothing acknowledged lost, nothing partial, linearizable`,
  async () => {
    expect(Number.isSafeInteger(cuts) && cuts > 0, "STATEHOUSE_E2E_POWER_CUTS must be a positive integer").toBe(true);
    const totals = await campaign(cuts, {});
    expect(totals.acknowledged, "the writers got commits through").toBeGreaterThan(0);
    expect(findings(totals)).toEqual(NO_FINDINGS);
  },
  120_000 + cuts * 10_000,
);

it(
  "loses acknowledged commits with fsync off (STATEHOUSE_FSYNC_ON_COMMIT=0): the filesystem really cuts power",
  async () => {
    // No snapshots: they sync the log, which would shrink what a cut can take. Only cuts from
    // outside, while the writers commit: a failpoint can fire before a run acknowledged anything.
    const totals = await campaign(3, { STATEHOUSE_FSYNC_ON_COMMIT: "0", STATEHOUSE_SNAPSHOT_INTERVAL: "0" }, 0);
    expect(totals.acknowledged).toBeGreaterThan(0);
    expect(totals.lost, "acknowledged commits lost to the power cuts").toBeGreaterThan(0);
    // Still never half a transaction: each commit is one atomic batch in the WAL.
    expect(totals.partial).toBe(0);
  },
  180_000,
);
