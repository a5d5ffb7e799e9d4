// The daemon ships as esbuild's bundle (bundle.mjs → dist/bundle/statehoused.js), which every
// other suite here starts; this one checks the bundle's own parts: its shebang, the two
// worker-thread entries it finds beside itself (RPC threads, the RocksDB writer thread), and
// that tsc's one-module-per-file dist/main.js, the bundle's input, serves the same way.
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { DAEMON_MAIN, DAEMON_MODULES_MAIN, DaemonProcess } from "@statehouse/test-services";

let daemon: DaemonProcess | undefined;
afterEach(async () => {
  await daemon?.dispose();
  daemon = undefined;
});

/** One commit over Connect JSON and the read of it: the daemon's engine and RPC both work. */
async function commitAndRead(url: string): Promise<unknown> {
  const call = async (method: string, body: object): Promise<unknown> => {
    const response = await fetch(`${url}/statehouse.v1.StatehouseService/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(response.status, await response.clone().text()).toBe(200);
    return response.json();
  };
  await call("Transact", { operations: [{ agentId: "a", key: "k", value: { n: 1 } }] });
  return call("GetState", { agentId: "a", key: "k" });
}

describe("the bundled daemon", () => {
  it("starts with the same Node flags as the source's shebang", async () => {
    const [bundled, source] = await Promise.all([readFile(DAEMON_MAIN, "utf8"), readFile(new URL("./main.ts", import.meta.url), "utf8")]);
    expect(bundled.split("\n", 1)[0]).toBe(source.split("\n", 1)[0]);
  });

  it("runs its RPC threads and its RocksDB writer thread from the files beside it", async () => {
    daemon = await DaemonProcess.start({ main: DAEMON_MAIN, env: { STATEHOUSE_RPC_THREADS: "2", STATEHOUSE_ROCKSDB_WRITER: "thread" } });
    expect(await commitAndRead(daemon.url)).toMatchObject({ value: { n: 1 }, version: "1", exists: true });
    expect(daemon.logs().find((line) => line["msg"] === "listening")).toMatchObject({ rpcThreads: 2 });
  });

  it("serves the same as tsc's module-per-file dist/main.js", async () => {
    daemon = await DaemonProcess.start({ main: DAEMON_MODULES_MAIN, env: { STATEHOUSE_RPC_THREADS: "2", STATEHOUSE_ROCKSDB_WRITER: "thread" } });
    expect(await commitAndRead(daemon.url)).toMatchObject({ value: { n: 1 }, version: "1", exists: true });
  });
});
