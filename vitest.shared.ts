// Shared vitest settings: resolve workspace packages to their TypeScript
// sources (the "@statehouse/source" export condition), so tests never run
// against stale build output. When STATEHOUSE_TEST_REPORT_DIR is set (the
// root `npm test` sets it), a JSON report per project lands there so the test
// command can print one total at the end.
import { basename, join } from "node:path";
import { defaultClientConditions, defaultServerConditions } from "vite";
import { defineConfig, type ViteUserConfig } from "vitest/config";

type TestConfig = NonNullable<ViteUserConfig["test"]>;

function reporting(name: string): Pick<TestConfig, "reporters" | "outputFile"> {
  const dir = process.env["STATEHOUSE_TEST_REPORT_DIR"];
  if (dir === undefined || dir === "") return { reporters: ["default"] };
  return { reporters: ["default", "json"], outputFile: { json: join(dir, `vitest-${name}-${process.pid}.json`) } };
}

export function sharedConfig(overrides: TestConfig = {}, name = basename(process.cwd())): ViteUserConfig {
  return defineConfig({
    resolve: { conditions: ["@statehouse/source", ...defaultClientConditions] },
    ssr: { resolve: { conditions: ["@statehouse/source", ...defaultServerConditions] } },
    test: {
      include: ["src/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      ...reporting(name),
      ...overrides,
    },
  });
}
