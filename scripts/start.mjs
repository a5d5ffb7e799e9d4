#!/usr/bin/env node
// `npm start`: install whatever is missing, build, and run statehoused on
// localhost:50051 (the web console at http://localhost:50051/console) with its data in ./statehouse-data (override with the
// STATEHOUSE_* environment variables or flags after `--`).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNodeModules, nodeBin, nx, reexecUnderProjectNode, root } from "./lib/bootstrap.mjs";

ensureNodeModules();
reexecUnderProjectNode(fileURLToPath(import.meta.url));
// The web console (apps/console, served at /console) is built with the daemon; a failed
// console build leaves the daemon serving RPC (and /console saying how to build it).
if (nx(["run", "daemon:build"]) !== 0) process.exit(1);
if (nx(["run", "console:build"]) !== 0) console.error("npm start: the web console did not build; the daemon starts without it");
const daemon = spawn(nodeBin, [join(root, "apps/daemon/dist/bundle/statehoused.js"), ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { STATEHOUSE_DATA_DIR: join(process.cwd(), "statehouse-data"), ...process.env },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => daemon.kill(signal));
daemon.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
