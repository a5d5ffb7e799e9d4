// Installs Debian packages the peers need, once per run: `apt-get update` the
// first time anything is missing, then `apt-get install`. Needs root (or sudo).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

let updated = false;

export interface AptNeed {
  /** Debian package name. */
  pkg: string;
  /** Present when any of these paths exists (globs are not supported; pass concrete paths). */
  provides: () => boolean;
}

export function ensureAptPackages(needs: readonly AptNeed[], log: (message: string) => void): void {
  const missing = needs.filter((need) => !need.provides()).map((need) => need.pkg);
  if (missing.length === 0) return;
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && !existsSync("/usr/bin/sudo")) {
    throw new Error(`missing Debian packages ${missing.join(", ")}: install them as root (apt-get install ${missing.join(" ")})`);
  }
  const prefix = asRoot ? [] : ["sudo", "-n"];
  const run = (args: string[]): void => {
    const [command, ...rest] = [...prefix, ...args] as [string, ...string[]];
    execFileSync(command, rest, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  };
  if (!updated) {
    log("apt-get update");
    run(["apt-get", "update", "-qq"]);
    updated = true;
  }
  log(`apt-get install ${missing.join(" ")}`);
  run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing]);
}
