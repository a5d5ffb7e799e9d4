// Structured JSON logs (pino) on stdout, written synchronously so nothing is
// lost when the process is killed; human-readable (pino-pretty) on a TTY.
import { pino, type Logger } from "pino";
import pretty from "pino-pretty";
import type { LogLevel } from "./config.js";

export type { Logger };

export function createLogger(level: LogLevel, options: { pretty?: boolean } = {}): Logger {
  const base = { level, base: { pid: process.pid, name: "statehoused" } };
  if (options.pretty ?? process.stdout.isTTY === true) {
    return pino(base, pretty({ sync: true, colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,name" }));
  }
  return pino(base, pino.destination({ dest: 1, sync: true }));
}
