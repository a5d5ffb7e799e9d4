// A headless Chromium for tests (Debian's /usr/bin/chromium driven by
// playwright-core) with its own profile and HOME, optionally trusting a test
// CA: the CA is added to an NSS database in the browser's own HOME (what
// Chromium on Linux reads for user-added roots), with certutil (Debian's
// libnss3-tools), so TLS is verified, never skipped. Shared by the SDK's
// browser tests and the e2e browser and console suites.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
const CERTUTIL = "/usr/bin/certutil";

/** A headless Chromium with its own profile and HOME; `dispose` closes it and removes both. */
export interface Chromium {
  context: BrowserContext;
  dispose(): Promise<void>;
}

export interface ChromiumOptions {
  /** A PEM file: Chromium trusts this CA for TLS server certificates. */
  trustCa?: string;
  /** Another Chromium binary (default /usr/bin/chromium). */
  executablePath?: string;
  viewport?: { width: number; height: number };
}

/** Launches Chromium headless, without sandbox, GPU, QUIC or background traffic. */
export async function launchChromium(options: ChromiumOptions = {}): Promise<Chromium> {
  const executablePath = options.executablePath ?? CHROMIUM;
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: apt-get install -y chromium (the project's test script does)`);
  }
  const home = await mkdtemp(join(tmpdir(), "statehouse-chromium-"));
  if (options.trustCa !== undefined) {
    if (!existsSync(CERTUTIL)) {
      throw new Error(`${CERTUTIL} is missing: apt-get install -y libnss3-tools (the project's test script does)`);
    }
    const nssdb = join(home, ".pki", "nssdb");
    await mkdir(nssdb, { recursive: true });
    execFileSync(CERTUTIL, ["-d", `sql:${nssdb}`, "-N", "--empty-password"], { stdio: "pipe" });
    execFileSync(CERTUTIL, ["-d", `sql:${nssdb}`, "-A", "-t", "C,,", "-n", "statehouse-test-ca", "-i", options.trustCa], { stdio: "pipe" });
  }
  const context = await chromium.launchPersistentContext(join(home, "profile"), {
    executablePath,
    headless: true,
    ...(options.viewport === undefined ? {} : { viewport: options.viewport }),
    env: { ...process.env, HOME: home },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    dispose: async () => {
      await context.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}
