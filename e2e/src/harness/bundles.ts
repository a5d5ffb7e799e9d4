// esbuild bundles of the TypeScript programs the harness runs outside vitest:
// the TS driver (a Node process) and the browser page. Workspace packages are
// bundled from their sources (the "@statehouse/source" export condition), so
// the suites always exercise the current SDK code, never a stale dist/.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { browserPageSource, keepTempDirs, tsDriverSource } from "./paths.js";

let outDir: string | undefined;

function bundleDir(): string {
  if (outDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "statehouse-e2e-bundles-"));
    outDir = dir;
    if (!keepTempDirs) process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return outDir;
}

let tsDriver: Promise<string> | undefined;

/** Bundles src/drivers/ts-driver.ts (once per test process) and returns the .mjs path. */
export function bundleTsDriver(): Promise<string> {
  tsDriver ??= (async () => {
    const outfile = join(bundleDir(), "ts-driver.mjs");
    await build({
      entryPoints: [tsDriverSource],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node24",
      sourcemap: "inline",
      conditions: ["@statehouse/source"],
      // CommonJS dependencies inside an ESM bundle still call require().
      banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
      logLevel: "error",
    });
    return outfile;
  })();
  return tsDriver;
}

/**
 * Bundles the browser page from the SDK's browser entry: platform "browser"
 * makes esbuild pick the "browser" export condition of @statehouse/sdk, and a
 * Node built-in anywhere in that graph fails the build.
 */
export async function bundleBrowserPage(): Promise<string> {
  const result = await build({
    entryPoints: [browserPageSource],
    bundle: true,
    write: false,
    platform: "browser",
    format: "esm",
    target: "chrome120",
    conditions: ["@statehouse/source"],
    logLevel: "error",
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error("esbuild produced no browser bundle");
  return file.text;
}
