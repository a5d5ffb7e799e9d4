// Failover against real daemons: two statehoused in cluster mode over one PostgreSQL
// (Debian's, started by @statehouse/test-services on loopback). The client is given both
// addresses; the daemon it is using is SIGKILLed while writers commit. Every acknowledged
// commit is present exactly once, and calls go on through the other daemon.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePostgresInstalled, startPostgres, type PostgresServer } from "@statehouse/test-services";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Statehouse } from "./index.js";
import { DaemonProcess } from "@statehouse/test-services";
import { uniqueAgent } from "./test-support/daemon.js";

let postgres: PostgresServer | undefined;
let workDir: string;
const daemons: DaemonProcess[] = [];

beforeAll(async () => {
  ensurePostgresInstalled((message) => console.log(`[postgres] ${message}`));
  workDir = await mkdtemp(join(tmpdir(), "statehouse-sdk-failover-"));
  postgres = await startPostgres(workDir);
  const storage = `postgres://${postgres.user}@${postgres.host}:${postgres.port}/${postgres.database}`;
  for (let i = 0; i < 2; i++) {
    daemons.push(await DaemonProcess.start({ env: { STATEHOUSE_STORAGE: storage, STATEHOUSE_POSTGRES_SCHEMA: "sdk_failover" } }));
  }
}, 120_000);

afterAll(async () => {
  for (const daemon of daemons) await daemon.dispose().catch(() => undefined);
  await postgres?.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe("Statehouse({ urls }) over a cluster", () => {
  it("a SIGKILL of the daemon in use mid-stream of commits: every acknowledged commit once, calls go on through the other", async () => {
    const [first, second] = daemons as [DaemonProcess, DaemonProcess];
    await using client = new Statehouse({ urls: [first.url, second.url], namespace: "failover" });
    expect(client.urls).toEqual([first.url, second.url]);
    const agent = uniqueAgent("failover");
    const acked = new Map<string, bigint>();
    let next = 0;
    let killed: Promise<unknown> | undefined;
    const writer = async (): Promise<void> => {
      while (acked.size < 60) {
        const key = `k${next++}`;
        const { commitTs } = await client.transact([{ agentId: agent, key, value: { key } }]);
        acked.set(key, commitTs);
        // Kill the daemon in use while the other writers' commits are in flight.
        if (acked.size === 20) killed ??= first.kill("SIGKILL");
      }
    };
    await Promise.all([writer(), writer(), writer(), writer()]);
    expect(await killed).toMatchObject({ signal: "SIGKILL" });
    // Calls go on: a read through the client answers (from the survivor).
    expect((await client.getState(agent, "k0")).exists).toBe(true);

    // Read the history back through the survivor alone.
    await using survivor = new Statehouse({ url: second.url, namespace: "failover" });
    const seen = new Map<string, bigint[]>();
    for await (const event of survivor.replay(agent)) {
      for (const op of event.operations) seen.set(op.key, [...(seen.get(op.key) ?? []), event.commitTs]);
    }
    for (const [key, commitTs] of acked) expect(seen.get(key), key).toEqual([commitTs]);
    // Nothing applied twice (a resent commit is found by its idempotency key).
    for (const [key, commits] of seen) expect(commits, key).toHaveLength(1);
  }, 60_000);

  it("takes url as an array too, and refuses url with urls or an empty list", async () => {
    await using client = new Statehouse({ url: ["127.0.0.1:1", "127.0.0.1:2/"] });
    expect(client.urls).toEqual(["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    expect(client.url).toBe("http://127.0.0.1:1");
    expect(() => new Statehouse({ url: "a:1", urls: ["b:2"] })).toThrow(/url or urls/);
    expect(() => new Statehouse({ urls: [] })).toThrow(/non-empty/);
  });
});
