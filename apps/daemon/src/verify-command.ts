// `statehoused verify DIR`: the engine's offline consistency check of a stopped daemon's data
// directory, with a progress line on a terminal (stderr) and the findings on stdout.
import { isEngineError, verifyStore, type VerifyProgress, type VerifyReport } from "@statehouse/engine";

export interface VerifyCommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

const PROGRESS_EVERY_MS = 100;

function progressLine(p: VerifyProgress): string {
  return p.total === null ? `verify: ${p.phase} ${p.done}` : `verify: ${p.phase} ${p.done}/${p.total} (${Math.floor((100 * p.done) / Math.max(1, p.total))}%)`;
}

/** Prints the report; returns the exit status (0 clean, 1 any finding or failure). */
export async function verifyCommand(dataDir: string, options: { idempotencyWindowMs?: number; json: boolean }, io: VerifyCommandIo): Promise<number> {
  const tty = io.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  let report: VerifyReport;
  try {
    report = await verifyStore(dataDir, {
      ...(options.idempotencyWindowMs === undefined ? {} : { idempotencyWindowMs: options.idempotencyWindowMs }),
      onProgress: (p) => {
        if (!tty) return;
        const now = performance.now();
        if (now - last < PROGRESS_EVERY_MS) return;
        last = now;
        shown = true;
        io.stderr.write(`\r\x1b[2K${progressLine(p)}`);
      },
    });
  } catch (error) {
    if (shown) io.stderr.write("\r\x1b[2K");
    const message = isEngineError(error, "LOCKED") ? `the data dir ${dataDir} is in use (a running statehoused holds its lock): stop the daemon first` : (error as Error).message;
    io.stderr.write(`statehoused verify: ${message}\n`);
    return 1;
  }
  if (shown) io.stderr.write("\r\x1b[2K");
  const problems = report.findings.length + report.moreFindings;
  if (options.json) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    for (const finding of report.findings) io.stdout.write(`✗ ${finding.phase}: ${finding.message}\n`);
    if (report.moreFindings > 0) io.stdout.write(`✗ ... and ${report.moreFindings} more\n`);
    const c = report.counts;
    const checked = `${c.log} events (log floor ${report.logFloor}, commit_ts ${report.commitTs}), ${c.state} state, ${c.versions} version, ${c["agent-events"]} agent-event and ${c.idempotency} idempotency entries, ${c.snapshots} snapshots`;
    io.stdout.write(problems === 0 ? `✓ ${dataDir} is consistent: ${checked}\n` : `✗ ${problems} inconsistencies in ${dataDir}; checked ${checked}\n`);
  }
  return problems === 0 ? 0 : 1;
}
