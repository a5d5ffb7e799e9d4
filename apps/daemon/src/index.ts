// @statehouse/daemon: statehoused as a library (the CLI is main.ts).
export { ConfigError, LOG_LEVELS, parseListenAddr, resolveConfig, SETTINGS } from "./config.js";
export type { ConfigSources, DaemonConfig, ListenAddress, LogLevel } from "./config.js";
export { DaemonStartError, startDaemon } from "./daemon.js";
export type { Daemon } from "./daemon.js";
export { createLogger } from "./logger.js";
export type { Logger } from "./logger.js";
