// Shared vitest settings: resolve workspace packages to their TypeScript
// sources (the "@statehouse/source" export condition), so tests never run
// against stale build output.
import { defaultClientConditions, defaultServerConditions } from "vite";
import { defineConfig, type ViteUserConfig } from "vitest/config";

export function sharedConfig(overrides: ViteUserConfig["test"] = {}): ViteUserConfig {
  return defineConfig({
    resolve: { conditions: ["@statehouse/source", ...defaultClientConditions] },
    ssr: { resolve: { conditions: ["@statehouse/source", ...defaultServerConditions] } },
    test: {
      include: ["src/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      ...overrides,
    },
  });
}
