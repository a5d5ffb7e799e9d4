// Extracts a code example from README.md (the fenced block after
// `<!-- readme-example:NAME -->`) and points it at a test daemon, a unique
// agent and this package's sources, so the README examples are run as tests.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { vi } from "vitest";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** The example's code, with the daemon URL, agent id and SDK import replaced (and any `more` text). */
export function readmeExample(
  name: "node" | "browser" | "node-tls",
  replace: { url: string; agent: string; agentInExample: string; urlInExample?: string; more?: Record<string, string> },
): string {
  const readme = readFileSync(join(packageRoot, "README.md"), "utf8");
  const marker = `<!-- readme-example:${name} -->`;
  const start = readme.indexOf(marker);
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(readme.slice(start));
  if (start < 0 || match?.[1] === undefined) throw new Error(`README has no ${marker} block`);
  const entry = join(packageRoot, "src", name === "browser" ? "browser.ts" : "index.ts");
  let code = match[1];
  for (const [from, to] of Object.entries(replace.more ?? {})) code = code.replaceAll(from, to);
  return code
    .replaceAll(JSON.stringify(replace.urlInExample ?? "http://localhost:50051"), JSON.stringify(replace.url))
    .replaceAll(JSON.stringify(replace.agentInExample), JSON.stringify(replace.agent))
    .replaceAll('from "@statehouse/sdk"', `from ${JSON.stringify(entry)}`);
}

/** Imports an example module and returns what it passed to console.log, call by call. */
export async function consoleLogOf(file: string): Promise<unknown[][]> {
  const logged: unknown[][] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args));
  try {
    await import(file);
  } finally {
    spy.mockRestore();
  }
  return logged;
}
