// Where the daemon's package lives (apps/daemon: its package.json, dist/, the console beside it),
// found from this module's own file: src/ under vitest, dist/ built, dist/bundle/ bundled.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The nearest directory at or above `from` that holds a package.json. */
export function packageDirOf(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json at or above ${from}`);
  }
}

export const PACKAGE_DIR = packageDirOf(dirname(fileURLToPath(import.meta.url)));
