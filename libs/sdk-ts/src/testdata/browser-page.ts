// The page script of the browser test (bundled with esbuild from the
// package's browser entry: "@statehouse/sdk" resolved with the "browser"
// condition). It runs a scenario against the daemon and returns plain JSON.
import { ConnectionError, NotFoundError, Statehouse, StatehouseError } from "@statehouse/sdk";

type Protocol = "connect" | "grpc-web";

function describeError(error: unknown): Record<string, unknown> {
  return {
    name: error instanceof Error ? error.name : typeof error,
    code: error instanceof StatehouseError ? error.code : undefined,
    isStatehouseError: error instanceof StatehouseError,
    isNotFoundError: error instanceof NotFoundError,
    isConnectionError: error instanceof ConnectionError,
  };
}

async function scenario(url: string, protocol: Protocol, agent: string, apiKey?: string): Promise<Record<string, unknown>> {
  const client = new Statehouse({ url, protocol, ...(apiKey === undefined ? {} : { apiKey }) });
  try {
    const health = await client.health();
    const outcome = await client.withTransaction(async (tx) => {
      const before = await tx.get(agent, "counter");
      tx.write(agent, "counter", { n: 1, from: "browser" });
      tx.write(agent, "note/hello", { text: "hi from chromium" });
      return before.exists;
    });
    const tx = await client.beginTransaction();
    tx.write(agent, "counter", { n: 2, from: "browser" });
    tx.delete(agent, "note/hello");
    const secondTs = await tx.commit();

    const state = await client.getState(agent, "counter");
    const first = await client.getStateAtVersion(agent, "counter", 1);
    const keys = await client.listKeys(agent);
    const scanned = await client.scanPrefix(agent, "co");
    const error = await client.getStateAtVersion(agent, "counter", 99).then(
      () => null,
      (e: unknown) => describeError(e),
    );
    const replayed = [];
    for await (const event of client.replay(agent)) {
      replayed.push({
        commitTs: String(event.commitTs),
        committedAt: event.committedAt?.toISOString() ?? null,
        operations: event.operations.map((op) => ({ key: op.key, value: op.value, version: String(op.version) })),
      });
    }
    let watched: string | null = null;
    for await (const event of client.watch(agent, { startTs: secondTs })) {
      watched = String(event.commitTs);
      break;
    }
    return {
      protocol: client.protocol,
      health,
      existedBefore: outcome.result,
      firstTs: String(outcome.commitTs),
      secondTs: String(secondTs),
      state: { ...state, version: String(state.version), commitTs: String(state.commitTs) },
      firstVersion: first.value,
      keys,
      scanned: scanned.map((e) => e.key),
      error,
      replayed,
      watched,
    };
  } finally {
    await client.close();
  }
}

/** Only a health check: used from an origin the daemon does not allow, or without a (valid) key. */
async function healthOnly(url: string, protocol: Protocol, apiKey?: string): Promise<Record<string, unknown>> {
  const client = new Statehouse({ url, protocol, ...(apiKey === undefined ? {} : { apiKey }) });
  try {
    return { health: await client.health() };
  } catch (error) {
    return { error: describeError(error) };
  } finally {
    await client.close();
  }
}

Object.assign(globalThis, { statehouseScenario: scenario, statehouseHealthOnly: healthOnly });
