// The console's initial load (index.html and every file it loads before the first view
// renders) is at most 150 KiB gzipped, the way the daemon sends it. Built fresh, with the
// real build script.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, expect, it } from "vitest";

const BUDGET_BYTES = 150 * 1024;
const BUILD = new URL("../build.mjs", import.meta.url).pathname;

let outdir: string;

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), "statehouse-console-size-"));
  execFileSync(process.execPath, [BUILD, outdir], { stdio: "pipe" });
});

afterAll(async () => {
  await rm(outdir, { recursive: true, force: true });
});

it("loads at most 150 KiB compressed at first", async () => {
  const html = await readFile(join(outdir, "index.html"), "utf8");
  // Everything index.html references under /console/ is part of the initial load.
  const referenced = [...html.matchAll(/(?:src|href)="\/console\/([^"]+)"/g)].map((m) => m[1] as string);
  expect(referenced.sort()).toEqual(["console.css", "console.js"]);
  const sizes: Record<string, number> = { "index.html": gzipSync(html, { level: 9 }).length };
  for (const name of referenced) sizes[name] = gzipSync(await readFile(join(outdir, name)), { level: 9 }).length;
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  console.log(`console initial load, gzip -9: ${JSON.stringify(sizes)} = ${total} bytes (${(total / 1024).toFixed(1)} KiB of ${BUDGET_BYTES / 1024} KiB)`);
  expect(total).toBeLessThanOrEqual(BUDGET_BYTES);
  // The bundle holds the UI library and the SDK's browser entry, never a Node transport.
  const js = await readFile(join(outdir, "console.js"), "utf8");
  expect(js).not.toMatch(/node:http2|connect-node|Http2SessionManager/);
});
