// An original-style Python client (plain grpcio, stubs generated from proto/)
// against the real daemon: unary calls with Struct values, server streaming,
// status codes with StatehouseError details, deadlines, gzip.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DaemonProcess, REPO_ROOT } from "@statehouse/test-services";

const PYTHON = join(REPO_ROOT, ".venv/bin/python");
const SCRIPT = join(REPO_ROOT, "apps/daemon/compat/grpcio_client.py");
const GRPC_GEN = join(REPO_ROOT, "sdks/python/tests/_grpc_gen");

let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await DaemonProcess.start();
});

afterAll(async () => {
  await daemon.dispose();
});

it("a plain grpcio client works against statehoused", () => {
  const run = spawnSync(PYTHON, [SCRIPT, daemon.address], {
    env: { ...process.env, PYTHONPATH: GRPC_GEN, PYTHONDONTWRITEBYTECODE: "1" },
    encoding: "utf8",
    timeout: 60_000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  expect(run.error, output).toBeUndefined();
  expect(run.status, output).toBe(0);
  expect(output).toMatch(/^OK \d+ checks$/m);
  console.log(output.match(/^OK \d+ checks$/m)?.[0]);
});
