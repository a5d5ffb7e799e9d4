// Extracts a code example from README.md (the fenced block after
// `<!-- readme-example:NAME -->`) and points it at a test daemon, a unique
// agent and this package's sources, so the README examples are run as tests.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** The example's code, with the daemon URL, agent id and SDK import replaced. */
export function readmeExample(name: "node" | "browser", replace: { url: string; agent: string; agentInExample: string }): string {
  const readme = readFileSync(join(packageRoot, "README.md"), "utf8");
  const marker = `<!-- readme-example:${name} -->`;
  const start = readme.indexOf(marker);
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(readme.slice(start));
  if (start < 0 || match?.[1] === undefined) throw new Error(`README has no ${marker} block`);
  const entry = join(packageRoot, "src", name === "node" ? "index.ts" : "browser.ts");
  return match[1]
    .replaceAll('"http://localhost:50051"', JSON.stringify(replace.url))
    .replaceAll(JSON.stringify(replace.agentInExample), JSON.stringify(replace.agent))
    .replaceAll('from "@statehouse/sdk"', `from ${JSON.stringify(entry)}`);
}
