/**
 * A minimal leveled logger: one line per event on stdout, `ISO-time LEVEL [component] message`.
 * STRATA_LOG_LEVEL=debug|info|warn|error picks the threshold (default info).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function threshold(): number {
  const env = (process.env.STRATA_LOG_LEVEL ?? 'info').toLowerCase() as LogLevel;
  return ORDER[env] ?? ORDER.info;
}

export interface Logger {
  /** Whether debug lines are emitted: guard hot-path messages that are costly to build. */
  readonly debugEnabled: boolean;
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  child(component: string): Logger;
}

export function createLogger(component: string, sink: (line: string) => void = (l) => process.stdout.write(l + '\n')): Logger {
  const min = threshold();
  const emit = (level: LogLevel, msg: string): void => {
    if (ORDER[level] < min) return;
    sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${component}] ${msg}`);
  };
  return {
    debugEnabled: min <= ORDER.debug,
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    child: (c) => createLogger(`${component}/${c}`, sink),
  };
}
