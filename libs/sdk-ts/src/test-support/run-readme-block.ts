// Test helper for packages whose README carries a runnable example: takes the
// fenced block after `<!-- MARKER -->`, writes it next to the README (so its
// imports resolve as in a user's package), with the given text replaced,
// imports it and returns what it printed with console.log.
import { readFile, rm, writeFile } from "node:fs/promises";
import { vi } from "vitest";

export async function runReadmeBlock(readme: URL, marker: string, replace: Record<string, string>): Promise<unknown[][]> {
  const text = await readFile(readme, "utf8");
  const start = text.indexOf(`<!-- ${marker} -->`);
  const code = start < 0 ? undefined : /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(start))?.[1];
  if (code === undefined) throw new Error(`${readme.pathname} has no <!-- ${marker} --> block`);
  const file = new URL(`.readme-example-${process.pid}-${Date.now().toString(36)}.mjs`, readme);
  await writeFile(file, Object.entries(replace).reduce((out, [from, to]) => out.replaceAll(from, to), code));
  const logged: unknown[][] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args));
  try {
    await import(file.href);
  } finally {
    spy.mockRestore();
    await rm(file, { force: true });
  }
  return logged;
}
