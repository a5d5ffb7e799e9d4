// Child process of the crash test: opens the engine (recovering), then commits multi-key
// transactions from many concurrent committers and prints "ACK <token> <commitTs>" for
// every acknowledged commit (stdout to a pipe is synchronous on Linux, so a printed
// acknowledgement really left the process before the next step). Runs until killed.
// Environment: CRASH_DIR, CRASH_ROUND, CRASH_COMMITTERS, CRASH_SNAPSHOT_INTERVAL,
// CRASH_FAILPOINT (name@N), CRASH_RECOVERY_MODE.
import { openEngine } from "../open-engine.ts";
import type { EngineOptions } from "../types.ts";
import { operations, token } from "./crash-workload.ts";

const env = process.env;
const round = Number(env["CRASH_ROUND"] ?? 0);
const committers = Number(env["CRASH_COMMITTERS"] ?? 16);
const failpointSpec = env["CRASH_FAILPOINT"];
const options: EngineOptions = {
  dataDir: env["CRASH_DIR"] ?? "",
  snapshotInterval: Number(env["CRASH_SNAPSHOT_INTERVAL"] ?? 50),
  recoveryMode: env["CRASH_RECOVERY_MODE"] === "rebuild" ? "rebuild" : "auto",
};
if (failpointSpec !== undefined && failpointSpec !== "") {
  const [name, after] = failpointSpec.split("@");
  options.failpoint = { name: name ?? "", after: Number(after ?? 1) };
}

const engine = await openEngine(options);
process.stdout.write(`OPEN ${engine.commitTs()} ${engine.recovery.snapshotTs ?? "-"} ${engine.recovery.eventsReplayed}\n`);

await Promise.all(
  Array.from({ length: committers }, async (_, committer) => {
    for (let sequence = 0; ; sequence++) {
      const tok = token(round, committer, sequence);
      const ops = operations(round, committer, sequence);
      let commitTs: bigint;
      if (committer % 2 === 0) {
        commitTs = (await engine.transact({ operations: ops, idempotencyKey: tok })).commitTs;
      } else {
        const tx = engine.begin();
        for (const op of ops) {
          if (op.value === null) engine.stageDelete(tx, op);
          else engine.stageWrite(tx, op, op.value);
        }
        commitTs = (await engine.commit(tx, { idempotencyKey: tok })).commitTs;
      }
      process.stdout.write(`ACK ${tok} ${commitTs}\n`);
    }
  }),
);
