import { StrataError } from '../common/errors';

/** Where the metrics endpoint listens: `metrics.listener`, parsed. */
export interface MetricsListener {
  /** As written; '' means every interface, IPv6 without brackets. */
  host: string;
  /** 0 means an ephemeral port. */
  port: number;
}

// http://HOST:PORT with HOST empty, a name, an IPv4 address or a bracketed IPv6 address; an
// optional trailing '/' or '/metrics' (the path is always /metrics).
const LISTENER = /^http:\/\/(\[[0-9A-Fa-f:.%a-zA-Z]*\]|[^:/[\]\s]*):(\d+)(?:\/|\/metrics)?$/;

/**
 * Parses `metrics.listener`: `http://HOST:PORT` (port 0 = ephemeral), or '' (the endpoint is off,
 * returns null). Throws StrataError('CONFIG_INVALID') naming the expected form.
 */
export function parseMetricsListener(value: string): MetricsListener | null {
  const s = value.trim();
  if (s === '') return null;
  const m = LISTENER.exec(s);
  if (!m) {
    throw new StrataError('CONFIG_INVALID', `Cannot parse metrics listener '${s}': expected http://HOST:PORT, e.g. http://127.0.0.1:9644 (port 0 = ephemeral, empty = off).`);
  }
  const port = Number(m[2]);
  if (port > 65535) throw new StrataError('CONFIG_INVALID', `Invalid port ${m[2]} in metrics listener '${s}': must be 0..65535 (0 = ephemeral).`);
  return { host: m[1].startsWith('[') ? m[1].slice(1, -1) : m[1], port };
}

/** The URL an operator scrapes: http://HOST:PORT/metrics (IPv6 hosts bracketed). */
export function metricsUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
}
