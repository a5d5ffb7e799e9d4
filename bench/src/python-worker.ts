// Runs one measurement in bench/python/bench_worker.py under the project's
// virtualenv (.venv) and returns the JSON line it prints. When a server is
// given, its CPU time is sampled when the worker announces its measurement
// window on stderr, and the worker's own CPU time comes with the marks.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { cpuProbe, type ServerProcess } from "./cpu-probe.js";
import { REPO_ROOT } from "./peers/statehouse-daemon.js";

export const VENV_PYTHON = join(REPO_ROOT, ".venv", "bin", "python");
export const PYTHON_WORKER = join(REPO_ROOT, "bench", "python", "bench_worker.py");

export type PythonMode =
  | "commit-sdk"
  | "commit-grpcio"
  | "noop-grpcio"
  | "noop-sdk"
  | "replay-sdk"
  | "replay-grpcio"
  | "langgraph-statehouse"
  | "langgraph-postgres";

export interface PythonSpec {
  mode: PythonMode;
  url: string;
  concurrency: number;
  warmup_s: number;
  duration_s: number;
  namespace: string;
  agent_prefix: string;
  agent_id: string;
  value_bytes: number;
  /** langgraph-postgres: the PostgreSQL the bench started. */
  postgres_dsn?: string;
  /** langgraph-statehouse: the saver's blob cache (0 = off; default: the saver's default). */
  blob_cache_bytes?: number;
}

/** Why the Python rows cannot run here, or null when they can. */
export function pythonUnavailable(): string | null {
  if (!existsSync(VENV_PYTHON)) return `${VENV_PYTHON} is missing (npm run setup:python)`;
  const grpcGen = join(REPO_ROOT, "sdks", "python", "tests", "_grpc_gen", "grpcclient");
  if (!existsSync(grpcGen)) return `${grpcGen} is missing (node scripts/gen-python.mjs)`;
  return null;
}

export async function runPythonWorker(spec: PythonSpec, server: ServerProcess | null = null): Promise<Record<string, number>> {
  let workerCpuMs = 0;
  const probe = server === null ? null : cpuProbe(server, () => workerCpuMs);
  const child = spawn(VENV_PYTHON, [PYTHON_WORKER, JSON.stringify(spec)], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const timeout = setTimeout(() => child.kill("SIGKILL"), (spec.warmup_s + spec.duration_s) * 1000 + 300_000);
  let stdout = "";
  const stderr: string[] = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  createInterface({ input: child.stderr }).on("line", (line) => {
    const mark = /^WINDOW (START|END) ([\d.]+)$/.exec(line);
    if (mark === null) {
      stderr.push(line);
      return;
    }
    workerCpuMs = Number(mark[2]);
    if (mark[1] === "START") probe?.start();
    else probe?.stop();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  clearTimeout(timeout);
  if (code !== 0) throw new Error(`python worker ${spec.mode} exited with ${code}: ${stderr.slice(-15).join("\n")}`);
  const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as Record<string, number>;
  return probe === null || result["ops"] === undefined ? result : { ...result, ...probe.perOp(result["ops"]) };
}
