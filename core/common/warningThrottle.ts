import type { Logger } from './logger';

/**
 * Logs a warning of each kind at once, then at most once per interval: what came in between is
 * counted and reported with the next line (or when the interval ends), so a flood of refused
 * connections costs one line per interval.
 */
export class WarningThrottle {
  private readonly kinds = new Map<string, { lastLogged: number; suppressed: number; last: string; timer: NodeJS.Timeout | null }>();

  constructor(private readonly logger: Logger, private readonly intervalMs: number) {}

  warn(kind: string, message: string): void {
    const now = Date.now();
    const k = this.kinds.get(kind);
    if (k === undefined) {
      this.kinds.set(kind, { lastLogged: now, suppressed: 0, last: message, timer: null });
      this.logger.warn(message);
      return;
    }
    if (k.suppressed === 0 && now - k.lastLogged >= this.intervalMs) {
      k.lastLogged = now;
      this.logger.warn(message);
      return;
    }
    k.suppressed++;
    k.last = message;
    if (k.timer === null) {
      k.timer = setTimeout(() => this.flush(kind), Math.max(0, k.lastLogged + this.intervalMs - now));
      k.timer.unref();
    }
  }

  /** Logs what was held back (so no count is lost), and stops the timers. */
  close(): void {
    for (const kind of this.kinds.keys()) this.flush(kind);
  }

  private flush(kind: string): void {
    const k = this.kinds.get(kind);
    if (k === undefined) return;
    if (k.timer !== null) clearTimeout(k.timer);
    k.timer = null;
    if (k.suppressed === 0) return;
    const seconds = Math.max(1, Math.round((Date.now() - k.lastLogged) / 1000));
    this.logger.warn(`${k.last} (${k.suppressed} time${k.suppressed === 1 ? '' : 's'} in the last ${seconds} s)`);
    k.lastLogged = Date.now();
    k.suppressed = 0;
  }
}
