// Runs the README's example exactly as written, in a fresh Node 24 process.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { NODE_BINARY } from "./test-support/node-binary.ts";

const packageDir = fileURLToPath(new URL("..", import.meta.url));

describe("README", () => {
  it("runs its example", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const block = /<!-- readme-example -->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const output = execFileSync(NODE_BINARY, ["--conditions=@statehouse/source", "--input-type=module", "-e", block ?? ""], {
      cwd: packageDir,
      encoding: "utf8",
      env: { ...withoutColor(process.env), NO_COLOR: "1" },
    });
    expect(output).toMatch(/^1n plan@v1 tool\/search@v1$/m);
    expect(output).toMatch(/^2n plan@v2$/m);
    expect(output).toContain("storage: 'rocksdb'");
  });
});

function withoutColor(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _force, ...rest } = env;
  return rest;
}
