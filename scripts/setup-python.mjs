#!/usr/bin/env node
// `npm run setup:python`: create the project-local .venv, install the
// `statehouse` SDK (editable) with its dev tools, and generate its code, so
// `.venv/bin/python` and `.venv/bin/statehousectl` work.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNodeModules, ensurePythonVenv, nodeBin, reexecUnderProjectNode, root } from "./lib/bootstrap.mjs";

ensureNodeModules();
reexecUnderProjectNode(fileURLToPath(import.meta.url));
ensurePythonVenv();
execFileSync(nodeBin, [join(root, "scripts/gen-python.mjs")], { stdio: "inherit" });
console.log("[statehouse] Python SDK ready: .venv/bin/python, .venv/bin/statehousectl");
