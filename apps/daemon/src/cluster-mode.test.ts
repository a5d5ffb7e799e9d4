// Cluster mode against the real daemon: three statehoused on one PostgreSQL (Debian's, started
// by @statehouse/test-services on loopback) serve one truth; a SIGKILLed daemon loses nothing.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnectTransport } from "@connectrpc/connect-node";
import { StatehouseService } from "@statehouse/api";
import { DaemonProcess, ensurePostgresInstalled, runDaemonToExit, startPostgres, type PostgresServer } from "@statehouse/test-services";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectDriver, type RpcDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;
const ns = "cluster";

let postgres: PostgresServer;
let workDir: string;
let url: string;
const daemons: DaemonProcess[] = [];

function driver(daemon: DaemonProcess): RpcDriver {
  return new ConnectDriver("connect-h2c", createConnectTransport({ baseUrl: daemon.url, httpVersion: "2" }));
}

async function startNode(): Promise<DaemonProcess> {
  const daemon = await DaemonProcess.start({ env: { STATEHOUSE_STORAGE: url, STATEHOUSE_POSTGRES_SCHEMA: "daemon_test" } });
  daemons.push(daemon);
  return daemon;
}

beforeAll(async () => {
  ensurePostgresInstalled((message) => console.log(`[postgres] ${message}`));
  workDir = await mkdtemp(join(tmpdir(), "statehouse-cluster-"));
  postgres = await startPostgres(workDir);
  url = `postgres://${postgres.user}@${postgres.host}:${postgres.port}/${postgres.database}`;
}, 120_000);

afterAll(async () => {
  for (const daemon of daemons) await daemon.stop("SIGKILL").catch(() => undefined);
  await postgres?.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe("statehoused --storage postgres://", () => {
  it("three daemons serve one truth: a commit through any is read, replayed and watched through every other", async () => {
    const nodes = [await startNode(), await startNode(), await startNode()];
    const [a, b, c] = nodes.map(driver) as [RpcDriver, RpcDriver, RpcDriver];
    const watch = new AbortController();
    const watched = (async () => {
      const out: bigint[] = [];
      for await (const event of c.stream(S.watch, { namespace: ns, agentId: "w", startTs: 1n }, { signal: watch.signal })) {
        out.push(BigInt(event.commitTs));
        if (out.length === 6) break;
      }
      return out;
    })();
    const acks: bigint[] = [];
    for (const [i, node] of [a, b, c, a, b, c].entries()) {
      const reply = await node.unary(S.transact, { operations: [{ namespace: ns, agentId: "w", key: "k", value: { i } }], idempotencyKey: `t-${i}` });
      acks.push(BigInt(reply.commitTs));
      // Linearizable: the next node reads what this one acknowledged.
      const next = [b, c, a][i % 3] as RpcDriver;
      const state = await next.unary(S.getState, { namespace: ns, agentId: "w", key: "k" });
      expect(BigInt(state.version)).toBe(BigInt(i + 1));
    }
    expect(acks).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    const events = await watched;
    watch.abort();
    expect(events).toEqual(acks);
    // A retried idempotency key through another node is the same commit.
    const again = await c.unary(S.transact, { operations: [{ namespace: ns, agentId: "w", key: "k", value: { i: 0 } }], idempotencyKey: "t-0" });
    expect(again.duplicate).toBe(true);
    expect(BigInt(again.commitTs)).toBe(1n);
  });

  it("a SIGKILLed daemon loses no acknowledged commit and holds no state: its replacement serves the same data", async () => {
    const victim = await startNode();
    const d = driver(victim);
    const before = await d.unary(S.transact, { operations: [{ namespace: ns, agentId: "kill", key: "k", value: { v: 1 } }] });
    await victim.stop("SIGKILL");
    const replacement = driver(await startNode());
    const state = await replacement.unary(S.getState, { namespace: ns, agentId: "kill", key: "k" });
    expect(BigInt(state.commitTs)).toBe(BigInt(before.commitTs));
  });

  it("refuses a non-postgres storage URL at start, naming the setting", async () => {
    const exit = await runDaemonToExit({ STATEHOUSE_STORAGE: "mysql://localhost/x" });
    expect(exit.code).not.toBe(0);
    expect(exit.output).toContain("STATEHOUSE_STORAGE");
  });
});
