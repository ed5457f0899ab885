import { pino, type Logger } from "pino";
import type { Config } from "./config.js";

export type { Logger };

/** JSON lines on stdout, or on stderr for commands whose stdout is their answer (the CLI). */
export function createLogger(config: Pick<Config, "logLevel">, opts: { stderr?: boolean } = {}): Logger {
  return pino({ level: config.logLevel, base: { service: "scaiqueue" } }, pino.destination(opts.stderr ? 2 : 1));
}
