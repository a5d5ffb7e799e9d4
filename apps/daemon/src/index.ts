// @statehouse/daemon: statehoused as a library (the CLI is main.ts).
export { ConfigError, envAliasesInUse, LOG_LEVELS, parseListenAddr, resolveConfig, SETTINGS } from "./config.js";
export type { ConfigSources, DaemonConfig, EnvAliasUse, ListenAddress, LogLevel } from "./config.js";
export { DaemonStartError, startDaemon } from "./daemon.js";
export type { Daemon } from "./daemon.js";
export { createLogger } from "./logger.js";
export type { Logger } from "./logger.js";
