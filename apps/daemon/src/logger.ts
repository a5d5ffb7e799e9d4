// Structured JSON logs (pino) on stdout, written synchronously so nothing is
// lost when the process is killed; human-readable (pino-pretty) on a TTY.
import { createRequire } from "node:module";
import { pino, type Logger } from "pino";
import type PinoPretty from "pino-pretty";
import type { LogLevel } from "./config.js";

// pino-pretty (and its dependencies, ~0.4 MiB of heap) is loaded only on a TTY: a daemon under
// systemd or the bench writes JSON and never needs it (README, "Memory").
const require = createRequire(import.meta.url);

export type { Logger };

export function createLogger(level: LogLevel, options: { pretty?: boolean } = {}): Logger {
  const base = { level, base: { pid: process.pid, name: "statehoused" } };
  if (options.pretty ?? process.stdout.isTTY === true) {
    const pretty = require("pino-pretty") as typeof PinoPretty;
    return pino(base, pretty({ sync: true, colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,name" }));
  }
  return pino(base, pino.destination({ dest: 1, sync: true }));
}
