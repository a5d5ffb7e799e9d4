#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=1024
// statehoused: the command-line entry. Reads the configuration (flags >
// environment > config file > defaults), starts the daemon, and shuts it
// down gracefully on SIGTERM/SIGINT (a second signal exits at once).
import { resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { ApiKeyStore } from "./auth/api-key-store.js";
import { ConfigError, envAliasesInUse, resolveConfig, SETTINGS, type DaemonConfig } from "./config.js";
import { DaemonStartError, startDaemon, type Daemon } from "./daemon.js";
import { describeReport, foreignDataProblem, importOriginal } from "./import-original.js";
import { createLogger } from "./logger.js";
import { verifyCommand } from "./verify-command.js";
import { describeRestore, restoreBackup } from "./restore-backup.js";

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
    const value = s.optionalValue === true ? `[${s.placeholder}]` : `<${s.placeholder}>`;
    program.option(`${s.flag} ${value}`, `${s.description} (env ${s.env}; default ${describeDefault(s.default)})`);
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
  const opts = program.opts<Record<string, string | true | undefined>>();
  const cli: Partial<Record<keyof DaemonConfig, string>> = {};
  for (const s of SETTINGS) {
    // commander names an option after its flag (--auth: "auth"), which is not always the setting's key.
    const attribute = program.options.find((o) => o.long === s.flag)?.attributeName() ?? s.key;
    const value = opts[attribute];
    // A flag given without its optional value (--insecure-allow-exposed) means 1.
    if (value !== undefined) cli[s.key] = value === true ? "1" : value;
  }
  const configFile = opts["config"];
  return typeof configFile === "string" ? { cli, configFile } : { cli };
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

/** Parses a subcommand's arguments; --help exits 0, a usage error exits EXIT_USAGE (commander printed why). */
function parseSubcommand(program: Command, argv: string[]): void {
  try {
    program.parse(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    throw error;
  }
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
  parseSubcommand(program, argv);
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

/**
 * `statehoused auth bootstrap [--data-dir DIR] [--name NAME] [--force]`: creates an admin key on "*"
 * in the data dir's key file and prints its token on stdout, once. A running daemon sees it within a second.
 */
function authCommand(argv: string[]): void {
  const program = new Command("statehoused auth")
    .description("API key administration on a data directory (the AuthService RPCs and statehousectl do the rest)")
    .exitOverride();
  program
    .command("bootstrap")
    .description('Create an admin key (role admin on "*") and print its token on stdout, once; refuses if an admin key exists unless --force.')
    .option("--data-dir <dir>", "the daemon's data directory (env STATEHOUSE_DATA_DIR; default ./statehouse-data)")
    .option("--name <name>", "the key's name", "bootstrap-admin")
    .option("--force", "create one even though an admin key exists (a lost admin key)")
    .allowExcessArguments(false)
    .action((opts: { dataDir?: string; name: string; force?: boolean }) => {
      const dataDir = resolve(opts.dataDir ?? process.env["STATEHOUSE_DATA_DIR"] ?? "./statehouse-data");
      try {
        const store = ApiKeyStore.open(dataDir);
        if (store.hasActiveAdmin() && opts.force !== true) {
          process.stderr.write(`statehoused auth bootstrap: ${store.file ?? dataDir} already holds an admin key; use it to create more (CreateApiKey), or pass --force\n`);
          process.exit(EXIT_FAILURE);
        }
        const { key, token } = store.create({ name: opts.name, grants: [{ namespacePattern: "*", role: "admin" }] });
        process.stderr.write(`statehoused auth bootstrap: created admin key ${key.keyId} in ${store.file ?? dataDir}; its token (shown once, stored only as a hash):\n`);
        process.stdout.write(`${token}\n`);
      } catch (error) {
        process.stderr.write(`statehoused auth bootstrap: ${(error as Error).message}\n`);
        process.exit(EXIT_FAILURE);
      }
    });
  parseSubcommand(program, argv);
}

/** `statehoused verify DIR`: offline consistency check; exit 0 when consistent, 1 otherwise. */
async function verifySubcommand(argv: string[]): Promise<void> {
  const program = new Command("statehoused verify")
    .description("Check a stopped daemon's data directory offline: event log, indexes, state and snapshots, both ways. Exit 0 when consistent, 1 on any inconsistency.")
    .argument("<dir>", "the data directory (the one holding db/ and snapshots/)")
    .option("--idempotency-window-ms <ms>", "the daemon's idempotency window: older keys may be missing (default 86400000)")
    .option("--json", "print the report as one JSON object")
    .exitOverride()
    .allowExcessArguments(false);
  parseSubcommand(program, argv);
  const opts = program.opts<{ idempotencyWindowMs?: string; json?: boolean }>();
  const window = opts.idempotencyWindowMs === undefined ? undefined : Number(opts.idempotencyWindowMs);
  if (window !== undefined && (!Number.isSafeInteger(window) || window < 1)) {
    process.stderr.write("statehoused verify: --idempotency-window-ms must be a positive integer\n");
    process.exit(EXIT_USAGE);
  }
  const status = await verifyCommand(program.args[0] as string, { ...(window === undefined ? {} : { idempotencyWindowMs: window }), json: opts.json === true }, { stdout: process.stdout, stderr: process.stderr });
  process.exit(status);
}

/** `statehoused restore --from DIR [--data-dir DIR] [--replace] [--recovery-mode accept-rollback]` (daemon README, "Backup and restore"). */
async function restoreCommand(argv: string[]): Promise<void> {
  const program = new Command("statehoused restore")
    .description("Restore a backup made by `statehousectl backup --to DIR` into a data directory (the daemon must not be running on it). The restored store is checked in full before anything is replaced.")
    .requiredOption("--from <dir>", "the backup directory (with its manifest.json)")
    .option("--data-dir <dir>", "the data directory to restore into (env STATEHOUSE_DATA_DIR; default ./statehouse-data); must be empty unless --replace")
    .option("--replace", "replace the store already in the data directory (its db/ is kept beside it as db.before-restore-<time>)")
    .option("--recovery-mode <mode>", "auto (default), or accept-rollback: go back to the backup's state although the replaced store's history went further (commit_ts values after the backup's are issued again)")
    .exitOverride()
    .allowExcessArguments(false);
  parseSubcommand(program, argv);
  const opts = program.opts<{ from: string; dataDir?: string; replace?: boolean; recoveryMode?: string }>();
  const mode = opts.recoveryMode ?? "auto";
  if (mode !== "auto" && mode !== "accept-rollback") {
    process.stderr.write(`statehoused restore: --recovery-mode must be auto or accept-rollback, got ${mode}\n`);
    process.exit(EXIT_USAGE);
  }
  const dataDir = opts.dataDir ?? process.env["STATEHOUSE_DATA_DIR"] ?? "./statehouse-data";
  let lastReport = 0;
  try {
    const result = await restoreBackup(opts.from, dataDir, {
      replace: opts.replace === true,
      acceptRollback: mode === "accept-rollback",
      onProgress: (p) => {
        const now = performance.now();
        if (now - lastReport < 1000 && p.entries < p.total) return;
        lastReport = now;
        const percent = p.total === 0 ? 100 : Math.floor((100 * p.entries) / p.total);
        process.stderr.write(`statehoused restore: ${p.entries}/${p.total} entries (${percent}%), ${(p.bytes / 1048576).toFixed(1)} MiB\n`);
      },
    });
    process.stdout.write(`${describeRestore(opts.from, result)}\n`);
  } catch (error) {
    process.stderr.write(`statehoused restore: ${(error as Error).message}\n`);
    process.exit(EXIT_FAILURE);
  }
}

async function main(): Promise<void> {
  applyStackTraceLimit();
  if (process.argv[2] === "verify") {
    await verifySubcommand(process.argv.slice(3));
    return;
  }
  if (process.argv[2] === "restore") {
    await restoreCommand(process.argv.slice(3));
    return;
  }
  if (process.argv[2] === "import-original") {
    await importOriginalCommand(process.argv.slice(3));
    return;
  }
  if (process.argv[2] === "auth") {
    authCommand(process.argv.slice(3));
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
  const foreign = config.useMemory || config.storage !== null ? null : foreignDataProblem(config.dataDir);
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
  process.on("SIGHUP", () => {
    log.info({ signal: "SIGHUP" }, "signal received: reloading the TLS certificate and the API keys");
    daemon.reload();
  });
}

await main();
