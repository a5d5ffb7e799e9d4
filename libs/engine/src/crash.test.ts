// Crash test: a child process commits concurrently and is SIGKILLed at random instants and
// at named failpoints (before the sync, after it, mid-snapshot, mid-recovery, mid-rebuild).
// After every kill the store is reopened and verified. STATEHOUSE_CRASH_KILLS sets the
// number of kills (default 50); STATEHOUSE_CRASH_SEED makes a run reproducible.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openEngine } from "./open-engine.ts";
import { CRASH_AGENTS, expectedOps, NAMESPACE, operations, parseToken } from "./test-support/crash-workload.ts";
import { NODE_BINARY } from "./test-support/node-binary.ts";
import { seededRandom } from "./test-support/random.ts";
import { withTempDir } from "./test-support/temp-dir.ts";
import type { Engine, JsonObject } from "./types.ts";

const KILLS = Number(process.env["STATEHOUSE_CRASH_KILLS"] ?? 50);
const SEED = Number(process.env["STATEHOUSE_CRASH_SEED"] ?? Date.now() % 1_000_000);
const CHILD = fileURLToPath(new URL("./test-support/crash-child.ts", import.meta.url));

type Scenario = "random" | "random-during-recovery" | "commit:before-sync" | "commit:after-sync-before-reply" | "snapshot:mid-write" | "recovery:mid-replay" | "rebuild:mid-replay";
const SCENARIOS: Scenario[] = [
  "random",
  "commit:before-sync",
  "snapshot:mid-write",
  "random-during-recovery",
  "recovery:mid-replay",
  "commit:after-sync-before-reply",
  "random",
  "rebuild:mid-replay",
];

interface ChildRun {
  acks: [tok: string, commitTs: bigint][];
  openedAt: bigint | null;
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

function runChild(env: Record<string, string>, killAfterMs: number, countFromOpen: boolean): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE_BINARY, ["--conditions=@statehouse/source", CHILD], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const run: ChildRun = { acks: [], openedAt: null, signal: null, code: null, stderr: "" };
    let buffered = "";
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    };
    if (!countFromOpen) arm();
    const safety = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const [kind, a, b] = line.split(" ");
        if (kind === "ACK" && a !== undefined && b !== undefined) run.acks.push([a, BigInt(b)]);
        else if (kind === "OPEN" && a !== undefined) {
          run.openedAt = BigInt(a);
          if (countFromOpen) arm();
        }
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => (run.stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(safety);
      run.code = code;
      run.signal = signal;
      resolve(run);
    });
  });
}

interface Verification {
  commitTs: bigint;
  events: number;
  lost: string[];
  partial: string[];
  problems: string[];
}

/** Everything the guarantees promise, checked against the reopened store. */
async function verify(engine: Engine, acked: Map<string, bigint>): Promise<Verification> {
  const problems: string[] = [];
  const events = new Map<bigint, { txnId: string; ops: { agentId: string; key: string; value: JsonObject | null; version: bigint }[] }>();
  const versions = new Map<string, bigint>();
  for (const agentId of CRASH_AGENTS) {
    const state = new Map<string, { value: JsonObject | null; version: bigint; commitTs: bigint }>();
    let previous = 0n;
    for await (const event of engine.replay(NAMESPACE, agentId)) {
      if (event.commitTs <= previous) problems.push(`replay of ${agentId} not in commit_ts order at ${event.commitTs}`);
      previous = event.commitTs;
      const merged = events.get(event.commitTs) ?? { txnId: event.txnId, ops: [] };
      if (merged.txnId !== event.txnId) problems.push(`event ${event.commitTs} has two txn ids`);
      for (const op of event.operations) {
        merged.ops.push({ agentId, key: op.key, value: op.value, version: op.version });
        const id = `${agentId}/${op.key}`;
        const expectedVersion = (versions.get(id) ?? 0n) + 1n;
        if (op.version !== expectedVersion) problems.push(`${id}: version ${op.version} after ${expectedVersion - 1n} (not contiguous)`);
        versions.set(id, op.version);
        state.set(op.key, { value: op.value, version: op.version, commitTs: event.commitTs });
      }
      events.set(event.commitTs, merged);
    }
    // Replay reproduces the current state exactly.
    const live = await engine.scanPrefix(NAMESPACE, agentId, "");
    const replayed = [...state].filter(([, s]) => s.value !== null).sort(([x], [y]) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const same =
      live.length === replayed.length &&
      live.every((entry, i) => {
        const [key, s] = replayed[i] ?? ["", { value: null, version: 0n, commitTs: 0n }];
        return entry.key === key && entry.version === s.version && entry.commitTs === s.commitTs && JSON.stringify(entry.value) === JSON.stringify(s.value);
      });
    if (!same) problems.push(`replay of ${agentId} does not reproduce its state`);
    for (const [key, s] of state) {
      const got = await engine.get({ namespace: NAMESPACE, agentId, key });
      if (got.version !== s.version || got.exists !== (s.value !== null)) problems.push(`${agentId}/${key}: get disagrees with replay`);
    }
  }
  const commitTs = engine.commitTs();
  for (let ts = 1n; ts <= commitTs; ts++) if (!events.has(ts)) problems.push(`commit_ts ${ts} missing from the log`);
  if (events.size !== Number(commitTs)) problems.push(`log has ${events.size} events, commit_ts is ${commitTs}`);

  // All or nothing: each event holds exactly the operations of one workload transaction.
  const partial: string[] = [];
  const present = new Map<string, bigint>();
  for (const [ts, event] of events) {
    const marker = event.ops.find((op) => op.key.startsWith("txn/"));
    const tok = typeof marker?.value?.["tok"] === "string" ? marker.value["tok"] : null;
    if (tok === null) {
      partial.push(`event ${ts} without its marker`);
      continue;
    }
    if (present.has(tok)) problems.push(`transaction ${tok} applied twice (${present.get(tok)} and ${ts})`);
    present.set(tok, ts);
    const { committer, sequence } = parseToken(tok);
    const want = expectedOps(committer, sequence).map((op) => `${op.agentId}/${op.key}/${op.deleted}`).sort();
    const got = event.ops.map((op) => `${op.agentId}/${op.key}/${op.value === null}`).sort();
    const tokensOk = event.ops.every((op) => op.value === null || op.value["tok"] === tok);
    if (JSON.stringify(want) !== JSON.stringify(got) || !tokensOk) partial.push(`event ${ts} (${tok}) is not exactly its transaction`);
  }
  const lost: string[] = [];
  for (const [tok, ts] of acked) if (present.get(tok) !== ts) lost.push(`${tok}@${ts}`);
  return { commitTs, events: events.size, lost, partial, problems };
}

describe("crash safety (SIGKILL of a committing process)", () => {
  const totals = { kills: 0, acknowledged: 0, lost: 0, partial: 0, killsByScenario: {} as Record<string, number> };
  afterAll(() => {
    console.log(
      `crash test totals (seed ${SEED}): kills=${totals.kills} acknowledged=${totals.acknowledged} lost=${totals.lost} partial=${totals.partial} ` +
        `by scenario ${JSON.stringify(totals.killsByScenario)}`,
    );
  });

  it(
    `survives ${KILLS} SIGKILLs with every acknowledged commit present and no partial transaction`,
    async () => {
      const random = seededRandom(SEED);
      const { dir, remove } = await withTempDir();
      const acked = new Map<string, bigint>();
      let lastCommitTs = 0n;
      try {
        for (let round = 0; totals.kills < KILLS; round++) {
          const scenario = SCENARIOS[round % SCENARIOS.length] as Scenario;
          const env: Record<string, string> = {
            CRASH_DIR: dir,
            CRASH_ROUND: String(round),
            CRASH_COMMITTERS: String(8 + Math.floor(random() * 25)),
            CRASH_SNAPSHOT_INTERVAL: String(scenario === "recovery:mid-replay" ? 400 : 20 + Math.floor(random() * 80)),
          };
          let killAfterMs = 50 + random() * 250;
          let fromOpen = true;
          switch (scenario) {
            case "random":
              break;
            case "random-during-recovery":
              killAfterMs = random() * 700;
              fromOpen = false;
              break;
            case "commit:before-sync":
            case "commit:after-sync-before-reply":
              env["CRASH_FAILPOINT"] = `${scenario}@${1 + Math.floor(random() * 100)}`;
              killAfterMs = 3000;
              break;
            case "snapshot:mid-write":
              env["CRASH_FAILPOINT"] = `snapshot:mid-write@${1 + Math.floor(random() * 3)}`;
              killAfterMs = 3000;
              break;
            case "recovery:mid-replay":
              env["CRASH_FAILPOINT"] = `recovery:mid-replay@${1 + Math.floor(random() * 40)}`;
              break;
            case "rebuild:mid-replay":
              env["CRASH_RECOVERY_MODE"] = "rebuild";
              env["CRASH_FAILPOINT"] = `recovery:mid-replay@${1 + Math.floor(random() * Math.max(1, Number(lastCommitTs)))}`;
              break;
          }
          const childStarted = performance.now();
          const run = await runChild(env, killAfterMs, fromOpen);
          const childMs = performance.now() - childStarted;
          if (run.signal !== "SIGKILL") throw new Error(`child ended without SIGKILL (code ${run.code}): ${run.stderr}`);
          totals.kills++;
          totals.killsByScenario[scenario] = (totals.killsByScenario[scenario] ?? 0) + 1;
          if (run.openedAt !== null && run.openedAt !== lastCommitTs) {
            throw new Error(`round ${round}: child opened at commit_ts ${run.openedAt}, the store was at ${lastCommitTs}`);
          }
          for (const [tok, ts] of run.acks) {
            if (ts <= lastCommitTs) throw new Error(`round ${round}: commit_ts ${ts} went back (store was at ${lastCommitTs})`);
            acked.set(tok, ts);
          }
          totals.acknowledged += run.acks.length;

          const verifyStarted = performance.now();
          const engine = await openEngine({ dataDir: dir });
          if (process.env["STATEHOUSE_CRASH_DEBUG"] !== undefined) {
            console.log(`round ${round} ${scenario}: child ${Math.round(childMs)} ms, acks ${run.acks.length}, reopen ${Math.round(performance.now() - verifyStarted)} ms, commitTs ${engine.commitTs()}`);
          }
          try {
            const result = await verify(engine, acked);
            totals.lost += result.lost.length;
            totals.partial += result.partial.length;
            expect(result.problems, `seed ${SEED} round ${round} (${scenario})`).toEqual([]);
            expect(result.lost, `seed ${SEED} round ${round} (${scenario}): acknowledged commits lost`).toEqual([]);
            expect(result.partial, `seed ${SEED} round ${round} (${scenario}): partial transactions`).toEqual([]);
            expect(result.commitTs).toBeGreaterThanOrEqual(lastCommitTs);
            lastCommitTs = result.commitTs;
            // Idempotency keys survive the crash: replaying an acknowledged commit applies nothing.
            const sample = run.acks[Math.floor(random() * run.acks.length)];
            if (sample !== undefined) {
              const { committer, sequence } = parseToken(sample[0]);
              const again = await engine.transact({ operations: operations(round, committer, sequence), idempotencyKey: sample[0] });
              expect(again).toEqual({ commitTs: sample[1], duplicate: true });
            }
          } finally {
            await engine.close();
          }
        }
      } finally {
        await remove();
      }
      expect(totals.kills).toBeGreaterThanOrEqual(KILLS);
      expect(totals.acknowledged).toBeGreaterThan(0);
    },
    Math.max(120_000, KILLS * 6_000),
  );
});
