#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=1536
// statehoused: the command-line entry. Reads the configuration (flags >
// environment > config file > defaults), starts the daemon, and shuts it
// down gracefully on SIGTERM/SIGINT (a second signal exits at once).
import { Command, CommanderError } from "commander";
import { ConfigError, envAliasesInUse, resolveConfig, SETTINGS, type DaemonConfig } from "./config.js";
import { DaemonStartError, startDaemon, type Daemon } from "./daemon.js";
import { describeReport, foreignDataProblem, importOriginal } from "./import-original.js";
import { createLogger } from "./logger.js";

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

function describeDefault(value: unknown): string {
  if (value === null) return "none";
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "boolean") return value ? "1" : "0";
  return String(value);
}

function buildProgram(): Command {
  const program = new Command("statehoused")
    .description("Statehouse daemon: transactional, versioned state for AI agents over gRPC, gRPC-Web and Connect on one port.")
    .option("--config <file>", "JSON config file whose keys are the camelCase setting names (lowest precedence after defaults)")
    .addHelpText("after", "\nPrecedence: command line > environment > config file > default.\nMetrics: GET /metrics on the same port.")
    .exitOverride()
    .allowExcessArguments(false);
  for (const s of SETTINGS) {
    program.option(`${s.flag} <${s.placeholder}>`, `${s.description} (env ${s.env}; default ${describeDefault(s.default)})`);
  }
  return program;
}

function parseArgs(argv: string[]): { cli: Partial<Record<keyof DaemonConfig, string>>; configFile?: string } {
  const program = buildProgram();
  try {
    program.parse(argv);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    throw error;
  }
  const opts = program.opts<Record<string, string | undefined>>();
  const cli: Partial<Record<keyof DaemonConfig, string>> = {};
  for (const s of SETTINGS) {
    const value = opts[s.key];
    if (value !== undefined) cli[s.key] = value;
  }
  return opts["config"] === undefined ? { cli } : { cli, configFile: opts["config"] };
}

/**
 * connect aborts an AbortController at the end of every call, and the
 * DOMException it creates captures a stack trace: without stack traces the
 * daemon spends ~5% less CPU per call (README, "Node flags"). An explicit
 * --stack-trace-limit (command line or NODE_OPTIONS) wins, e.g. to debug.
 */
function applyStackTraceLimit(): void {
  const nodeOptions = `${process.execArgv.join(" ")} ${process.env["NODE_OPTIONS"] ?? ""}`;
  if (!nodeOptions.includes("--stack-trace-limit")) Error.stackTraceLimit = 0;
}

/** `statehoused import-original --from DIR [--data-dir DIR]` (the data dir defaults as the daemon's does). */
async function importOriginalCommand(argv: string[]): Promise<void> {
  const program = new Command("statehoused import-original")
    .description("Import an original Statehouse 0.1.x data directory (DIR/rocksdb), keeping commit_ts, versions and txn ids; verifies state and replay, safe to re-run, resumes if interrupted.")
    .requiredOption("--from <dir>", "the original daemon's data directory (the one holding rocksdb/)")
    .option("--data-dir <dir>", "this daemon's data directory (env STATEHOUSE_DATA_DIR; default ./statehouse-data); may be --from itself")
    .option("--batch-events <n>", "events per atomic batch (default 500)")
    .exitOverride()
    .allowExcessArguments(false);
  try {
    program.parse(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    throw error;
  }
  const opts = program.opts<{ from: string; dataDir?: string; batchEvents?: string }>();
  const dataDir = opts.dataDir ?? process.env["STATEHOUSE_DATA_DIR"] ?? "./statehouse-data";
  const batchEvents = opts.batchEvents === undefined ? undefined : Number(opts.batchEvents);
  if (batchEvents !== undefined && (!Number.isSafeInteger(batchEvents) || batchEvents < 1)) {
    process.stderr.write("statehoused import-original: --batch-events must be a positive integer\n");
    process.exit(EXIT_USAGE);
  }
  // Crash tests: SIGKILL right after the Nth batch is durable (the import must resume from there).
  const killAfter = Number(process.env["STATEHOUSE_IMPORT_KILL_AFTER_BATCHES"] ?? "0");
  let batches = 0;
  try {
    const report = await importOriginal(opts.from, dataDir, {
      ...(batchEvents === undefined ? {} : { batchEvents }),
      onProgress: (p) => {
        process.stderr.write(`statehoused import-original: commit_ts ${p.commitTs} (${p.imported} imported)\n`);
        if (++batches === killAfter) process.kill(process.pid, "SIGKILL");
      },
    });
    process.stdout.write(`${describeReport(report)}\n`);
  } catch (error) {
    process.stderr.write(`statehoused import-original: ${(error as Error).message}\n`);
    process.exit(EXIT_FAILURE);
  }
}

async function main(): Promise<void> {
  applyStackTraceLimit();
  if (process.argv[2] === "import-original") {
    await importOriginalCommand(process.argv.slice(3));
    return;
  }
  const args = parseArgs(process.argv);
  let config: DaemonConfig;
  try {
    config = resolveConfig({ ...args, env: process.env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`statehoused: ${error.message}\n`);
    process.exit(EXIT_USAGE);
  }
  const log = createLogger(config.logLevel);
  const foreign = config.useMemory ? null : foreignDataProblem(config.dataDir);
  if (foreign !== null) {
    log.fatal({ dataDir: config.dataDir }, foreign);
    process.stderr.write(`statehoused: ${foreign}\n`);
    process.exit(EXIT_FAILURE);
  }
  for (const use of envAliasesInUse(process.env, args.cli)) {
    if (use.ignored) log.warn({ alias: use.alias, env: use.env }, `${use.alias} ignored: ${use.env} (or its flag) is set and wins`);
    else log.info({ alias: use.alias, env: use.env }, `using ${use.alias} (the original daemon's name) as ${use.env}`);
  }
  process.on("uncaughtException", (error) => {
    log.fatal({ err: error }, "uncaught exception");
    process.exit(EXIT_FAILURE);
  });
  process.on("unhandledRejection", (reason) => {
    log.fatal({ err: reason }, "unhandled promise rejection");
    process.exit(EXIT_FAILURE);
  });
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (error) {
    const message = error instanceof DaemonStartError ? error.message : `startup failed: ${(error as Error).message}`;
    log.fatal({ err: error }, message);
    process.stderr.write(`statehoused: ${message}\n`);
    process.exit(EXIT_FAILURE);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, "second signal: exiting without draining");
      process.exit(EXIT_FAILURE);
    }
    log.info({ signal }, "signal received");
    daemon.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.fatal({ err: error }, "shutdown failed");
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

await main();
