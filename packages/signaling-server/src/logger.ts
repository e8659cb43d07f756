/**
 * Structured logging: a minimal logger interface the server writes to, a JSON-lines default and a silent one.
 *
 * @module
 */

/** Log levels, most verbose first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>

/** What the server logs to. Pass your own (pino, winston...) or use {@link createJsonLogger}. */
export interface Logger {
  /** Per-socket detail (joins, disconnects). */
  debug(msg: string, fields?: LogFields): void
  /** Lifecycle (listening, closed) and refused origins. */
  info(msg: string, fields?: LogFields): void
  /** Recoverable trouble: Redis errors, flooding sockets, released registrations of dead instances. */
  warn(msg: string, fields?: LogFields): void
  /** Failures of the server itself (a handler threw, this instance was declared dead). */
  error(msg: string, fields?: LogFields): void
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/**
 * A logger writing one JSON object per line (`{ time, level, msg, ...fields }`).
 * @param options.level the least severe level written. @default 'info'
 * @param options.write where lines go. @default a write to stderr
 */
export function createJsonLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[options.level ?? 'info']
  const write = options.write ?? ((line: string) => process.stderr.write(line))
  const log =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (ORDER[level] < min) return
      let line: string
      try {
        line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })
      } catch {
        line = JSON.stringify({ time: new Date().toISOString(), level, msg, fields: '[unserializable]' })
      }
      write(`${line}\n`)
    }
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
}

/** A logger that drops everything (for tests). */
export const silentLogger: Logger = Object.freeze({
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
})
