// Statehouse e2e driver for the TypeScript SDK (Node entry of @statehouse/sdk).
//
// A thin client process run by the e2e harness (../harness/driver-process.ts):
// one JSON command per line on stdin, one JSON reply per line on stdout
// (protocol.ts). One client object lives for the driver's whole life, so the
// suites also prove the same client keeps working after the daemon was
// SIGKILLed and restarted. The harness bundles this file with esbuild (the
// workspace packages from their sources) and runs it with Node 24:
//
//   node --conditions=@statehouse/source ts-driver.mjs --url http://127.0.0.1:PORT [--namespace default]
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Statehouse, StatehouseError, type StateResult, type Transaction } from "@statehouse/sdk";
import type {
  DriverCommand,
  DriverErrorInfo,
  DriverMessage,
  DriverRequest,
  EventView,
  OpSpec,
  RunTxnResult,
  StateView,
  TxnResult,
} from "./protocol.js";
import { sdkErrorClasses, sdkErrorCode } from "./sdk-error-classes.js";

const { values } = parseArgs({
  options: { url: { type: "string" }, namespace: { type: "string", default: "default" } },
});
if (values.url === undefined) throw new TypeError("--url is required");

const client = new Statehouse({ url: values.url, namespace: values.namespace });

function errorInfo(error: unknown, stage: string | null): DriverErrorInfo {
  const classes = sdkErrorClasses(error);
  return {
    class: classes[0] ?? "Error",
    classes,
    statehouse: error instanceof StatehouseError,
    code: sdkErrorCode(error),
    message: (error instanceof Error ? error.message : String(error)).slice(0, 2000),
    stage,
  };
}

function stateView(state: StateResult): StateView {
  return { exists: state.exists, value: state.value, version: Number(state.version), commit_ts: Number(state.commitTs) };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
const queue: string[] = [];
let wake: (() => void) | undefined;
let ended = false;
lines.on("line", (line) => {
  queue.push(line);
  wake?.();
});
lines.on("close", () => {
  ended = true;
  wake?.();
});

async function nextLine(): Promise<string | undefined> {
  while (queue.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
  return queue.shift();
}

function emit(message: DriverMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

let stage: string | null = null;

function stageOps(tx: Transaction, ops: readonly OpSpec[]): void {
  stage = "write";
  for (const op of ops) {
    if (op.value === null) tx.delete(op.agent, op.key);
    else tx.write(op.agent, op.key, op.value);
  }
}

async function txn(command: Extract<DriverRequest, { op: "txn" }>): Promise<TxnResult> {
  stage = "begin";
  const tx = await client.beginTransaction(
    command.idempotency_key === undefined ? {} : { idempotencyKey: command.idempotency_key },
  );
  try {
    stage = "get";
    const gets: StateView[] = [];
    for (const ref of command.gets ?? []) gets.push(stateView(await tx.get(ref.agent, ref.key)));
    stageOps(tx, command.ops);
    if (command.pause === true) {
      emit({ id: command.id, event: "paused" });
      const resume = JSON.parse((await nextLine()) ?? "{}") as { op?: string };
      if (resume.op !== "resume") throw new Error(`expected resume, got ${JSON.stringify(resume)}`);
    }
    stage = "commit";
    const commitTs = await tx.commit();
    return { commit_ts: Number(commitTs), gets, duplicate: tx.duplicate };
  } finally {
    await tx[Symbol.asyncDispose]();
  }
}

async function runTxn(command: Extract<DriverRequest, { op: "run_txn" }>): Promise<RunTxnResult> {
  stage = "run_transaction";
  let counterValue: number | null = null;
  const outcome = await client.withTransaction(
    async (tx) => {
      if (command.counter !== undefined) {
        const current = await tx.get(command.counter.agent, command.counter.key);
        const n = current.exists && current.value !== null ? Number(current.value["n"]) + 1 : 1;
        tx.write(command.counter.agent, command.counter.key, { n, uid: command.uid });
        counterValue = n;
      }
      stageOps(tx, command.ops);
    },
    { retries: command.retries },
  );
  return { commit_ts: Number(outcome.commitTs), attempts: outcome.attempts, counter: counterValue, duplicate: outcome.duplicate };
}

async function replay(command: Extract<DriverRequest, { op: "replay" }>): Promise<{ events: EventView[] }> {
  const events: EventView[] = [];
  const options = {
    ...(command.start_ts === undefined ? {} : { startTs: command.start_ts }),
    ...(command.end_ts === undefined ? {} : { endTs: command.end_ts }),
  };
  for await (const event of client.replay(command.agent, options)) {
    events.push({
      txn_id: event.txnId,
      commit_ts: Number(event.commitTs),
      operations: event.operations.map((op) => ({ key: op.key, value: op.value, version: Number(op.version) })),
    });
  }
  return { events };
}

async function handle(command: DriverRequest): Promise<unknown> {
  switch (command.op) {
    case "health":
      return { status: await client.health() };
    case "txn":
      return txn(command);
    case "run_txn":
      return runTxn(command);
    case "get":
      return stateView(await client.getState(command.agent, command.key));
    case "list_keys":
      return { keys: await client.listKeys(command.agent) };
    case "replay":
      return replay(command);
    case "resume":
      throw new Error("resume outside a paused transaction");
  }
}

emit({ event: "ready", sdk: "ts", pid: process.pid });
for (;;) {
  const line = await nextLine();
  if (line === undefined) break;
  if (line.trim() === "") continue;
  const command = JSON.parse(line) as DriverCommand & { id: number };
  stage = null;
  const t0 = process.hrtime.bigint();
  try {
    const result = await handle(command);
    emit({ id: command.id, ok: true, result, t0: String(t0), t1: String(process.hrtime.bigint()) });
  } catch (error) {
    const t1 = process.hrtime.bigint();
    emit({ id: command.id, ok: false, error: errorInfo(error, stage), t0: String(t0), t1: String(t1) });
  }
}
await client.close();
