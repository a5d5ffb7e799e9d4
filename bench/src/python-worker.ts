// Runs one measurement in bench/python/bench_worker.py under the project's
// virtualenv (.venv) and returns the JSON line it prints.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "./peers/statehouse-daemon.js";

const execFileAsync = promisify(execFile);

export const VENV_PYTHON = join(REPO_ROOT, ".venv", "bin", "python");
export const PYTHON_WORKER = join(REPO_ROOT, "bench", "python", "bench_worker.py");

export type PythonMode = "commit-sdk" | "commit-grpcio" | "noop-grpcio" | "noop-sdk" | "replay-sdk" | "replay-grpcio";

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
}

/** Why the Python rows cannot run here, or null when they can. */
export function pythonUnavailable(): string | null {
  if (!existsSync(VENV_PYTHON)) return `${VENV_PYTHON} is missing (npm run setup:python)`;
  const grpcGen = join(REPO_ROOT, "sdks", "python", "tests", "_grpc_gen", "grpcclient");
  if (!existsSync(grpcGen)) return `${grpcGen} is missing (node scripts/gen-python.mjs)`;
  return null;
}

export async function runPythonWorker(spec: PythonSpec): Promise<Record<string, number>> {
  const { stdout } = await execFileAsync(VENV_PYTHON, [PYTHON_WORKER, JSON.stringify(spec)], {
    cwd: REPO_ROOT,
    maxBuffer: 16 * 1024 * 1024,
    timeout: (spec.warmup_s + spec.duration_s) * 1000 + 300_000,
  });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as Record<string, number>;
}
