// Child process of the purge crash test. PURGE_MODE=populate commits the workload and exits;
// PURGE_MODE=purge opens the store with PURGE_FAILPOINT (purge:mid-purge@N, a real SIGKILL)
// and purges the secret agent, printing "DONE" if the failpoint never fired.
import { openEngine } from "../open-engine.ts";
import type { OperationInput } from "../types.ts";

export const PURGE_NS = "tenant";
export const SECRET_AGENT = "secret-agent";
export const KEEPER = "keeper";
export const SECRET_MARK = "SECRET-PII-";

const dataDir = process.env["PURGE_DIR"] ?? "";
const failpoint = process.env["PURGE_FAILPOINT"];

if (process.env["PURGE_MODE"] === "populate") {
  const engine = await openEngine({ dataDir, snapshotInterval: 300 });
  for (let i = 0; i < 1500; i++) {
    const operations: OperationInput[] = [{ namespace: PURGE_NS, agentId: SECRET_AGENT, key: `k${i % 40}`, value: i % 17 === 0 ? null : { pii: `${SECRET_MARK}${i}` } }];
    if (i % 3 === 0) operations.push({ namespace: PURGE_NS, agentId: KEEPER, key: `k${i % 7}`, value: { n: i } });
    if (i % 5 === 0) operations.push({ namespace: "elsewhere", agentId: KEEPER, key: "k", value: { n: i } });
    await engine.transact({ operations, idempotencyKey: `req-${i}` });
    if (i % 4 === 0) await engine.transact({ operations: [{ namespace: PURGE_NS, agentId: KEEPER, key: "solo", value: { i } }] });
  }
  await engine.close();
  process.stdout.write("POPULATED\n");
} else {
  const [name = "", after = "1"] = (failpoint ?? "").split("@");
  const engine = await openEngine({ dataDir, snapshotInterval: 300, ...(failpoint === undefined ? {} : { failpoint: { name, after: Number(after) } }) });
  await engine.purge({ namespace: PURGE_NS, agentId: SECRET_AGENT });
  process.stdout.write("DONE\n");
  await engine.close();
}
