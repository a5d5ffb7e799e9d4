#!/usr/bin/env node
// `npm test`: install whatever is missing (npm packages incl. Node 24, the
// Python virtualenv, Debian's chromium, openssl and certutil), then run every suite: proto lint and
// breaking check, the wire-contract test, TS lint + typecheck + unit and
// integration tests, the Python SDK's ruff + mypy + pytest, the bench smoke
// run, and the e2e crash suites. Ends with one "N passed, N failed" line.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureCertutil, ensureChromium, ensureFuse, ensureNodeModules, ensureOpenssl, ensurePythonVenv, nx, reexecUnderProjectNode, root } from "./lib/bootstrap.mjs";
import { summarize } from "./lib/test-report.mjs";

ensureNodeModules();
reexecUnderProjectNode(fileURLToPath(import.meta.url));
ensurePythonVenv();
ensureChromium();
ensureOpenssl();
ensureCertutil();
ensureFuse();

const reportDir = mkdtempSync(join(tmpdir(), "statehouse-test-report-"));
const env = {
  STATEHOUSE_TEST_REPORT_DIR: reportDir,
  PYTEST_ADDOPTS: `${process.env.PYTEST_ADDOPTS ?? ""} --junitxml=${join(reportDir, "pytest.xml")}`.trim(),
};

const failed = [];
function step(name, run) {
  console.log(`\n[statehouse] ${name}`);
  if (!run()) failed.push(name);
}

step("generated code is never committed", () => {
  const tracked = execFileSync("git", ["ls-files", "libs/api/src/gen", "sdks/python/src/statehouse/_gen", "sdks/python/tests/_grpc_gen"], { cwd: root, encoding: "utf8" }).trim();
  if (tracked !== "") console.error(`generated files are tracked by git:\n${tracked}`);
  return tracked === "";
});
step("lint, typecheck and test every project (nx run-many -t lint typecheck test)", () => nx(["run-many", "-t", "lint", "typecheck", "test"], env) === 0);
step("end-to-end crash suites (nx run-many -t e2e)", () => nx(["run-many", "-t", "e2e"], env) === 0);

const total = summarize(reportDir);
rmSync(reportDir, { recursive: true, force: true });
if (failed.length > 0) console.error(`\n[statehouse] FAILED: ${failed.join("; ")}`);
else console.log("\n[statehouse] all suites passed");
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(failed.length > 0 || total.failed > 0 ? 1 : 0);
