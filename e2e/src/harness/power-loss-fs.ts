// The power-loss filesystem (e2e/powerloss, a FUSE filesystem in Python): written but
// unsynced file data lives only in its process, so SIGKILLing that process is a power cut
// (the page cache is gone; what was fsynced is in the backing dir). `cut()` kills it, detaches
// the dead mount and mounts a fresh one over the same backing dir. Needs root and /dev/fuse
// (CI runs as root; scripts/lib/bootstrap.mjs installs Debian's fuse3).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { trackChild } from "./child-registry.js";
import { cleanEnv, keepTempDirs, pythonBin } from "./paths.js";

const run = promisify(execFile);
const MOUNT_TIMEOUT_MS = 15_000;

function mounted(dir: string): boolean {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[1] === dir);
}

export class PowerLossFs {
  #process: ChildProcess | null = null;
  #cuts = 0;

  private constructor(
    readonly root: string,
    readonly mountpoint: string,
    readonly backing: string,
  ) {}

  /** Mounts a fresh filesystem in a temp dir; the daemon's data dir goes in `dataDir`. */
  static async mount(): Promise<PowerLossFs> {
    if (process.getuid?.() !== 0 || !existsSync("/dev/fuse")) {
      throw new Error("the power-loss suite mounts a FUSE filesystem and needs root and /dev/fuse (CI runs as root)");
    }
    const root = await mkdtemp(join(tmpdir(), "statehouse-e2e-powerloss-"));
    const fs = new PowerLossFs(root, join(root, "mnt"), join(root, "backing"));
    await mkdir(fs.mountpoint);
    await mkdir(fs.backing);
    await fs.#start();
    await mkdir(fs.dataDir, { recursive: true });
    return fs;
  }

  get dataDir(): string {
    return join(this.mountpoint, "data");
  }

  /** Power cuts so far. */
  get cuts(): number {
    return this.#cuts;
  }

  /** The power cut: every byte not fsynced is lost. Kill whatever uses the mount first. */
  async cut(): Promise<void> {
    await this.#stop();
    this.#cuts++;
    await this.#start();
  }

  async unmount(): Promise<void> {
    await this.#stop();
    if (!keepTempDirs) await rm(this.root, { recursive: true, force: true });
  }

  async #start(): Promise<void> {
    const child = spawn(pythonBin, ["-m", "statehouse_powerloss", this.mountpoint, this.backing], {
      env: cleanEnv(),
      stdio: ["ignore", "ignore", "pipe"],
    });
    trackChild(child);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    this.#process = child;
    const deadline = Date.now() + MOUNT_TIMEOUT_MS;
    while (!mounted(this.mountpoint)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the power-loss filesystem did not mount on ${this.mountpoint}: ${stderr || `exit ${child.exitCode}`}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async #stop(): Promise<void> {
    const child = this.#process;
    this.#process = null;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    // The dead mount answers ENOTCONN until detached.
    if (mounted(this.mountpoint)) await run("fusermount3", ["-u", "-z", this.mountpoint]);
  }
}
