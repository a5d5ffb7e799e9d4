// Test helper: the page bundle (bundle-for-browser.ts) and a
// headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
// optionally trusting a test CA: the CA is added to an NSS database in the
// browser's own HOME (what Chromium on Linux reads for user-added roots), with
// certutil (Debian's libnss3-tools), so TLS is verified, never skipped.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext } from "playwright-core";
import { bundleForBrowser } from "./bundle-for-browser.js";

export const CHROMIUM = "/usr/bin/chromium";
const CERTUTIL = "/usr/bin/certutil";
/** The page script: a scenario and a health check, on globalThis. */
export const PAGE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "../testdata/browser-page.ts");

/**
 * The page script bundled for the browser (a classic script: it only sets globals). Its text is the
 * bundle's entry: imported instead, it would be dropped, the package being `sideEffects: false`.
 */
export async function bundlePageScript(): Promise<string> {
  return (await bundleForBrowser(await readFile(PAGE_SCRIPT, "utf8"), dirname(PAGE_SCRIPT))).text;
}

/** A headless Chromium with its own profile and HOME; `dispose` closes it and removes both. */
export interface Chromium {
  context: BrowserContext;
  dispose(): Promise<void>;
}

/** Launches Chromium; with `trustCa` (a PEM file) it trusts that CA for TLS server certificates. */
export async function launchChromium(options: { trustCa?: string } = {}): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (the project's test script does)`);
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
    executablePath: CHROMIUM,
    headless: true,
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
