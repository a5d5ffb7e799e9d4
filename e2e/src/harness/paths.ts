// Where the harness finds the programs it runs. Every path can be overridden
// through the environment so the suites can point at another checkout or build.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root (e2e/src/harness or e2e/dist/harness -> three levels up). */
export const repoRoot = process.env["STATEHOUSE_E2E_ROOT"] ?? resolve(here, "../../..");

/** Node 24 from the workspace (the system node is too old). */
export const nodeBin = process.env["STATEHOUSE_E2E_NODE"] ?? join(repoRoot, "node_modules/.bin/node");

/** The built daemon entry point (`nx run daemon:build`). */
export const daemonMain = process.env["STATEHOUSE_E2E_DAEMON_MAIN"] ?? join(repoRoot, "apps/daemon/dist/bundle/statehoused.js");

/** The project's Python virtualenv, with the `statehouse` SDK installed editable. */
export const pythonBin = process.env["STATEHOUSE_E2E_PYTHON"] ?? join(repoRoot, ".venv/bin/python");

export const statehousectlBin = process.env["STATEHOUSE_E2E_STATEHOUSECTL"] ?? join(repoRoot, ".venv/bin/statehousectl");

/** The Python driver script. */
export const pythonDriver = join(repoRoot, "e2e/drivers/python/driver.py");

/** The TypeScript driver source (bundled with esbuild before it runs). */
export const tsDriverSource = join(repoRoot, "e2e/src/drivers/ts-driver.ts");

/** The browser page source (bundled with esbuild from the SDK's browser entry). */
export const browserPageSource = join(repoRoot, "e2e/src/browser/page.ts");

/** The web console's build script (`node build.mjs OUTDIR`). */
export const consoleBuildScript = join(repoRoot, "apps/console/build.mjs");

/** Where the console suite saves its screenshots (gitignored; copies are committed under apps/console/docs/screenshots). */
export const consoleScreenshotDir = process.env["STATEHOUSE_E2E_SCREENSHOTS"] ?? join(repoRoot, "apps/console/test-results/screenshots");

/** Debian's chromium. */
export const chromiumBin = process.env["STATEHOUSE_E2E_CHROMIUM"] ?? "/usr/bin/chromium";

/** Keep temp dirs and logs after the run (for post-mortems). */
export const keepTempDirs = process.env["STATEHOUSE_E2E_KEEP"] === "1";

/**
 * The child-process environment without anything that would leak the test
 * runner's settings into the programs under test (other STATEHOUSE_* knobs,
 * NODE_OPTIONS loaders).
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (name.startsWith("STATEHOUSE_") || name === "NODE_OPTIONS" || name.startsWith("VITEST")) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}
