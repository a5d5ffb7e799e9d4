// Temporary data directories and engines for a test file: everything made in a test is
// closed and removed after it (afterEach), newest first.
import { afterEach } from "vitest";
import { openEngine } from "../open-engine.ts";
import type { Engine, EngineOptions } from "../types.ts";
import { withTempDir } from "./temp-dir.ts";

export function disposableEngines(defaults: Partial<EngineOptions> = {}): {
  tempDir: () => Promise<string>;
  open: (dir: string, options?: Partial<EngineOptions>) => Promise<Engine>;
} {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    tempDir: async () => {
      const { dir, remove } = await withTempDir();
      cleanups.push(remove);
      return dir;
    },
    open: async (dir, options = {}) => {
      const engine = await openEngine({ dataDir: dir, ...defaults, ...options });
      cleanups.push(() => engine.close());
      return engine;
    },
  };
}
