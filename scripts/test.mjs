#!/usr/bin/env node
// `npm test`: install whatever is missing (npm packages incl. Node 24, the
// Python virtualenv, Debian's chromium), then run every suite: proto lint and
// breaking check, TS lint + typecheck + unit/integration tests, the Python
// SDK's ruff + mypy + pytest, the bench smoke run, and the e2e crash suites.
import { fileURLToPath } from "node:url";
import { ensureChromium, ensureNodeModules, ensurePythonVenv, nx, reexecUnderProjectNode } from "./lib/bootstrap.mjs";

ensureNodeModules();
reexecUnderProjectNode(fileURLToPath(import.meta.url));
ensurePythonVenv();
ensureChromium();

const steps = [
  ["lint, typecheck and test every project", ["run-many", "-t", "lint", "typecheck", "test"]],
  ["end-to-end crash suites", ["run-many", "-t", "e2e"]],
];
const failed = [];
for (const [name, args] of steps) {
  console.log(`\n[statehouse] ${name}: nx ${args.join(" ")}`);
  if (nx(args) !== 0) failed.push(name);
}
if (failed.length > 0) {
  console.error(`\n[statehouse] FAILED: ${failed.join("; ")}`);
  process.exit(1);
}
console.log("\n[statehouse] all suites passed");
