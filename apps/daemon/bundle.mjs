#!/usr/bin/env node
// Bundles the built daemon (tsc's dist/) into dist/bundle/ with esbuild: statehoused.js (the
// command, what the systemd unit, `npm start` and the tests run), the two worker-thread entries
// it starts by a sibling path (rpc-worker.js, and the engine's rocks-write-worker.js) and the
// chunks they share, e.g. the PostgreSQL storage that cluster mode imports on demand. One file
// per entry instead of ~500 modules: the daemon's V8 heap is ~6 MiB smaller (README, "Memory").
// Not minified, so stack traces keep their names; linked source maps for --enable-source-maps.
// The RocksDB binding (native), pino-pretty (loaded only on a TTY) and the pg driver stay in
// node_modules. `node bundle.mjs` after `tsc -p tsconfig.lib.json` (the nx `build` target).
import { chmod, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const DAEMON_ROOT = dirname(fileURLToPath(import.meta.url));
export const BUNDLE_DIR = join(DAEMON_ROOT, "dist", "bundle");
const ENGINE_DIST = dirname(fileURLToPath(import.meta.resolve("@statehouse/engine")));

/** The entries by output name; the code finds each worker beside the file that starts it. */
export const ENTRIES = {
  statehoused: join(DAEMON_ROOT, "dist", "main.js"),
  "rpc-worker": join(DAEMON_ROOT, "dist", "rpc-threads", "rpc-worker.js"),
  "rocks-write-worker": join(ENGINE_DIST, "storage", "rocks-write-worker.js"),
};

/** Writes dist/bundle/ (replacing it); resolves to esbuild's metafile. */
export async function bundleDaemon(outdir = BUNDLE_DIR) {
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: ENTRIES,
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: "chunk-[hash]",
    format: "esm",
    platform: "node",
    target: "node24",
    sourcemap: "linked",
    external: ["@nxtedition/rocksdb", "pino-pretty", "pg"],
    // CommonJS dependencies (commander, pino, prom-client) call require() for Node's modules.
    banner: { js: 'import { createRequire as __statehouseRequire } from "node:module"; const require = __statehouseRequire(import.meta.url);' },
    metafile: true,
    logLevel: "warning",
  });
  await chmod(join(outdir, "statehoused.js"), 0o755);
  return result.metafile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const metafile = await bundleDaemon();
  const sizes = Object.entries(metafile.outputs)
    .filter(([, output]) => output.entryPoint !== undefined)
    .map(([path, output]) => `${path.split("/").pop()} ${(output.bytes / 1024).toFixed(0)} KiB`);
  console.log(`daemon bundled into ${BUNDLE_DIR}: ${sizes.join(", ")}`);
}
