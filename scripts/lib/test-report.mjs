// Sums the per-runner reports written during `npm test` (vitest JSON, pytest
// JUnit XML) into one closing line: "N passed, N failed, N skipped".
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export function summarize(dir) {
  const total = { passed: 0, failed: 0, skipped: 0 };
  if (!existsSync(dir)) return total;
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), "utf8");
    if (file.endsWith(".json")) {
      const report = JSON.parse(text);
      total.passed += report.numPassedTests ?? 0;
      total.failed += report.numFailedTests ?? 0;
      total.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    } else if (file.endsWith(".xml")) {
      for (const m of text.matchAll(/<testsuite\b[^>]*>/g)) {
        const get = (name) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(m[0])?.[1] ?? 0);
        const tests = get("tests");
        const failed = get("failures") + get("errors");
        const skipped = get("skipped");
        total.failed += failed;
        total.skipped += skipped;
        total.passed += tests - failed - skipped;
      }
    }
  }
  return total;
}
