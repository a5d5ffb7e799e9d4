#!/usr/bin/env node
// Builds the console into dist/: console.js (every module bundled and minified by esbuild,
// the SDK from its TypeScript source through its browser entry), console.css and
// index.html. `node build.mjs [outdir]` (the nx `build` target writes dist/).
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const CONSOLE_ROOT = dirname(fileURLToPath(import.meta.url));
export const DIST = join(CONSOLE_ROOT, "dist");

/** Builds into `outdir` (default dist/); resolves to the files written. */
export async function buildConsole(outdir = DIST) {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: { console: join(CONSOLE_ROOT, "src/main.tsx") },
    outdir,
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["@statehouse/source"],
    jsx: "automatic",
    jsxImportSource: "preact",
    define: { "process.env.NODE_ENV": '"production"' },
    legalComments: "none",
    logLevel: "warning",
  });
  await build({ entryPoints: [join(CONSOLE_ROOT, "src/console.css")], outfile: join(outdir, "console.css"), bundle: true, minify: true, logLevel: "warning" });
  await copyFile(join(CONSOLE_ROOT, "src/index.html"), join(outdir, "index.html"));
  return ["index.html", "console.js", "console.css"].map((name) => join(outdir, name));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await buildConsole(process.argv[2] ?? DIST);
  console.log(`console built: ${files.join(", ")}`);
}
