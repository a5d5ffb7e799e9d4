// The machine a report was measured on.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";
import { basename } from "node:path";

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  /** Filesystem, device, size and rotational flag of the dir all data lives in. */
  disk: string;
  kernel: string;
  os: string;
  node: string;
  /** 1-minute load average when the run started and when it ended (other work on the machine). */
  loadAverage: { start: number; end: number };
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

function describeDisk(dir: string): string {
  const [source = "?", fstype = "?", size = "?"] = run("findmnt", ["-n", "-o", "SOURCE,FSTYPE,SIZE", "-T", dir]).split(/\s+/);
  const device = basename(source);
  const rotationalFile = `/sys/block/${device}/queue/rotational`;
  const kind = existsSync(rotationalFile) ? (readFileSync(rotationalFile, "utf8").trim() === "1" ? "rotational flag set" : "non-rotational") : "";
  return [`${fstype} on ${source}`, `${size}`, kind, `data under ${dir}`].filter((s) => s !== "").join(", ");
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "";
  } catch {
    return "";
  }
}

export function loadAverage1m(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

export function describeMachine(dataDir: string, loadAtStart: number): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    disk: describeDisk(dataDir),
    kernel: `${run("uname", ["-s"])} ${release()}`.trim(),
    os: osName(),
    node: process.version,
    loadAverage: { start: loadAtStart, end: loadAverage1m() },
  };
}
