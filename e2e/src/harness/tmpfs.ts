// A small tmpfs for the disk-full suite: a real filesystem that really runs
// out of space (ENOSPC), mounted and unmounted by the harness (needs root,
// as the suites run in CI).
import { execFile } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Tmpfs {
  dir: string;
  /** Writes a file until the filesystem is full; returns the bytes written. */
  fill(name: string): number;
  unmount(): Promise<void>;
}

export async function mountTmpfs(sizeMiB: number): Promise<Tmpfs> {
  if (process.getuid?.() !== 0) {
    throw new Error("the disk-full suite mounts a tmpfs and needs root (CI runs as root)");
  }
  const dir = await mkdtemp(join(tmpdir(), "statehouse-e2e-tmpfs-"));
  await run("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}m`, "tmpfs", dir]);
  return {
    dir,
    fill(name) {
      const fd = openSync(join(dir, name), "w");
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      let written = 0;
      try {
        for (;;) written += writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      } finally {
        closeSync(fd);
      }
      return written;
    },
    async unmount() {
      await run("umount", [dir]).catch(() => run("umount", ["-l", dir]));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
