#!/usr/bin/env node
// Regenerates sdks/python/src/statehouse/_gen (protobuf message classes and
// Connect client stubs) and, for the grpcio compatibility test only,
// sdks/python/tests/_grpc_gen (classic grpcio stubs). Uses the protoc bundled
// in grpcio-tools, whose version (libprotoc 35.1, gencode 7.35.1) is the floor of the protobuf
// runtime range (>=7.35.1,<8) — see sdks/python/pyproject.toml. Output is never committed.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { venvBin } from "./lib/python.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const py = venvBin("python");
const outs = {
  sdk: join(root, "sdks/python/src/statehouse/_gen"),
  grpc: join(root, "sdks/python/tests/_grpc_gen"),
};
for (const dir of Object.values(outs)) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}
// Every statehouse.v1 file (statehouse.proto plus the additions beside it).
const statehouseProtos = readdirSync(join(root, "proto/statehouse/v1"))
  .filter((name) => name.endsWith(".proto"))
  .sort()
  .map((name) => `statehouse/v1/${name}`);
const protoc = (include, protos, ...args) =>
  execFileSync(py, ["-m", "grpc_tools.protoc", include, ...args, ...protos], { stdio: "inherit", cwd: root });
protoc(
  `-I${join(root, "proto")}`,
  [...statehouseProtos, "grpc/health/v1/health.proto"],
  `--python_out=${outs.sdk}`,
  `--pyi_out=${outs.sdk}`,
  `--plugin=protoc-gen-connectrpc=${venvBin("protoc-gen-connectrpc")}`,
  `--connectrpc_out=protobuf=google:${outs.sdk}`,
);
// The grpcio stubs are rooted at `grpcclient/` (protoc's virtual include path)
// so that their absolute imports (`grpcclient.statehouse.v1`) never collide
// with the `statehouse` SDK package; the wire package stays statehouse.v1.
protoc(`-Igrpcclient=${join(root, "proto")}`, ["grpcclient/statehouse/v1/statehouse.proto"], `--python_out=${outs.grpc}`, `--pyi_out=${outs.grpc}`, `--grpc_python_out=${outs.grpc}`);
console.log(`generated ${outs.sdk} and ${outs.grpc}`);
