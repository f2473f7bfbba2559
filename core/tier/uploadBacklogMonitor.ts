import type { Logger } from '../common/logger';
import type { UploadBacklog } from './tieredPartition';

/**
 * Makes an upload outage visible from outside the broker, in its log: from the first failed
 * upload until the backlog has drained, the TierManager reports here and this module writes
 *
 *   WARN  upload backlog: 12 segment(s), 3145728 bytes kept locally; uploads failing in 1 partition(s) for 5012 ms
 *         (at most every `logIntervalMs`, and only when the backlog changed; during the drain
 *          the line ends "draining for N ms")
 *   INFO  upload backlog drained: 14 segment(s), 3670016 bytes uploaded in 2210 ms once uploads resumed;
 *         uploads had failed for 9876 ms; peak backlog 14 segment(s), 3670016 bytes
 *
 * Every failed attempt is also logged by the TierManager with the backlog at that moment; this
 * adds the lines between attempts (retry gaps grow to `retryBackoffMaxMs`) and the end of the
 * episode. Nothing is logged while uploads succeed: a healthy broker's transient backlog (a
 * rolled segment waiting for its upload) is not news.
 */
export interface UploadBacklogMonitorOptions {
  logger: Logger;
  now: () => number;
  /** Least time between two "upload backlog:" lines. */
  logIntervalMs: number;
}

export interface UploadOutageStats {
  /** When the first upload of the episode failed (ms). */
  since: number;
  /** When uploads succeeded again, or null while they still fail. */
  resumedAt: number | null;
  peak: UploadBacklog;
}

interface Episode {
  since: number;
  resumedAt: number | null;
  peak: UploadBacklog;
  lastLogAt: number;
  lastLogged: UploadBacklog;
  /** Uploaded since resumedAt. */
  drained: UploadBacklog;
}

export class UploadBacklogMonitor {
  private episode: Episode | null = null;

  constructor(private readonly opts: UploadBacklogMonitorOptions) {}

  /** True from the first failed upload until the backlog drained: report backlogs then. */
  get active(): boolean {
    return this.episode !== null;
  }

  stats(): UploadOutageStats | null {
    const e = this.episode;
    return e && { since: e.since, resumedAt: e.resumedAt, peak: { ...e.peak } };
  }

  /** An upload failed; `backlog` is the whole broker's at that moment (already in the failure's log line). */
  uploadFailed(backlog: UploadBacklog): void {
    const now = this.opts.now();
    const e = this.episode;
    if (e === null) {
      this.episode = { since: now, resumedAt: null, peak: { ...backlog }, lastLogAt: now, lastLogged: { ...backlog }, drained: { segments: 0, bytes: 0 } };
      return;
    }
    raisePeak(e.peak, backlog);
    // Failing again after a success: the drain starts over when uploads next succeed.
    e.resumedAt = null;
    e.drained = { segments: 0, bytes: 0 };
  }

  /** One segment of `bytes` was uploaded. */
  uploaded(bytes: number): void {
    const e = this.episode;
    if (e === null) return;
    if (e.resumedAt === null) e.resumedAt = this.opts.now();
    e.drained.segments++;
    e.drained.bytes += bytes;
  }

  /** The current backlog and how many partitions are failing uploads (call while `active`). */
  observe(backlog: UploadBacklog, failingPartitions: number): void {
    const e = this.episode;
    if (e === null) return;
    const now = this.opts.now();
    raisePeak(e.peak, backlog);
    if (failingPartitions === 0 && backlog.segments === 0) {
      const resumedAt = e.resumedAt ?? now;
      this.opts.logger.info(
        `upload backlog drained: ${e.drained.segments} segment(s), ${e.drained.bytes} bytes uploaded in ${now - resumedAt} ms once uploads resumed; ` +
          `uploads had failed for ${resumedAt - e.since} ms; peak backlog ${e.peak.segments} segment(s), ${e.peak.bytes} bytes`,
      );
      this.episode = null;
      return;
    }
    if (now - e.lastLogAt < this.opts.logIntervalMs) return;
    if (backlog.segments === e.lastLogged.segments && backlog.bytes === e.lastLogged.bytes) return;
    const state =
      failingPartitions > 0 || e.resumedAt === null
        ? `uploads failing in ${failingPartitions} partition(s) for ${now - e.since} ms`
        : `draining for ${now - e.resumedAt} ms`;
    this.opts.logger.warn(`upload backlog: ${backlog.segments} segment(s), ${backlog.bytes} bytes kept locally; ${state}`);
    e.lastLogAt = now;
    e.lastLogged = { ...backlog };
  }
}

function raisePeak(peak: UploadBacklog, b: UploadBacklog): void {
  if (b.segments > peak.segments) peak.segments = b.segments;
  if (b.bytes > peak.bytes) peak.bytes = b.bytes;
}
