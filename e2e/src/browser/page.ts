// The browser side of the browser crash suite: bundled by esbuild from
// "@statehouse/sdk" with the browser condition (connect-web over fetch), and
// loaded by a page on another origin than the daemon. One client lives for
// the page's life; the suite drives it through `globalThis.statehouseE2E`.
// Every function resolves to a plain JSON outcome (never rejects), so the
// suite sees the SDK's error classes.
import { Statehouse, type Transaction } from "@statehouse/sdk";
import { sdkErrorClasses, sdkErrorCode } from "../drivers/sdk-error-classes.js";

type Outcome = { ok: true; result: unknown } | { ok: false; error: { class: string; code: string | null; message: string } };

interface OpSpec {
  agent: string;
  key: string;
  value: Record<string, unknown> | null;
}

let client: Statehouse | undefined;
const staged = new Map<number, Transaction>();
let nextHandle = 1;

async function outcome(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, result: await run() };
  } catch (error) {
    return {
      ok: false,
      error: {
        class: sdkErrorClasses(error)[0] ?? "Error",
        code: sdkErrorCode(error),
        message: error instanceof Error ? error.message : String(error),
      },
    };
  }
}

function requireClient(): Statehouse {
  if (client === undefined) throw new Error("call init first");
  return client;
}

function stage(tx: Transaction, ops: readonly OpSpec[]): void {
  for (const op of ops) {
    if (op.value === null) tx.delete(op.agent, op.key);
    else tx.write(op.agent, op.key, op.value as Parameters<Transaction["write"]>[2]);
  }
}

const api = {
  init(url: string, protocol: "connect" | "grpc-web"): void {
    client = new Statehouse({ url, protocol });
  },
  health: () => outcome(() => requireClient().health()),
  txn: (ops: OpSpec[]) =>
    outcome(async () => {
      const tx = await requireClient().beginTransaction();
      stage(tx, ops);
      return { commit_ts: Number(await tx.commit()) };
    }),
  /** Begins a transaction and stages `ops`; commit it later with commitStaged. */
  stage: (ops: OpSpec[]) =>
    outcome(async () => {
      const tx = await requireClient().beginTransaction();
      stage(tx, ops);
      const handle = nextHandle++;
      staged.set(handle, tx);
      return { handle };
    }),
  commitStaged: (handle: number) =>
    outcome(async () => {
      const tx = staged.get(handle);
      if (tx === undefined) throw new Error(`no staged transaction ${handle}`);
      staged.delete(handle);
      return { commit_ts: Number(await tx.commit()) };
    }),
  get: (agent: string, key: string) =>
    outcome(async () => {
      const state = await requireClient().getState(agent, key);
      return { exists: state.exists, value: state.value, version: Number(state.version), commit_ts: Number(state.commitTs) };
    }),
  replay: (agent: string) =>
    outcome(async () => {
      const events = [];
      for await (const event of requireClient().replay(agent)) {
        events.push({
          txn_id: event.txnId,
          commit_ts: Number(event.commitTs),
          operations: event.operations.map((op) => ({ key: op.key, value: op.value, version: Number(op.version) })),
        });
      }
      return { events };
    }),
};

export type BrowserApi = typeof api;

(globalThis as { statehouseE2E?: BrowserApi }).statehouseE2E = api;
