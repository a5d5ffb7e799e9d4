#!/usr/bin/env node
// `npm run bench [-- flags]`: install whatever is missing (npm packages incl.
// Node 24, the Python virtualenv), then run the side-by-side benchmark
// (bench/README.md); it installs and starts etcd and PostgreSQL itself.
import { fileURLToPath } from "node:url";
import { ensureNodeModules, ensureOpenssl, ensurePythonVenv, nx, reexecUnderProjectNode } from "./lib/bootstrap.mjs";

ensureNodeModules();
reexecUnderProjectNode(fileURLToPath(import.meta.url));
ensurePythonVenv();
ensureOpenssl(); // --security makes a throwaway CA with it
process.exit(nx(["run", "bench:bench", ...process.argv.slice(2)]));
