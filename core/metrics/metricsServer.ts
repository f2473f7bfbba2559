import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../common/logger';
import { CONTENT_TYPE } from './exposition';
import type { MetricsRegistry } from './registry';

/**
 * The metrics endpoint: GET /metrics answers the registry in Prometheus text format (200);
 * any other path is 404, any other method 405 (HEAD is served as GET without the body).
 *
 * Bounded: no request body is ever read (a request that announces one gets its answer with
 * `Connection: close`, so the body dies with the connection), headers are limited in size,
 * count and time, and so are connections. Keep-alive is kept for scrapers that use it.
 */
export interface MetricsServerOptions {
  host: string;
  port: number;
  registry: MetricsRegistry;
  logger: Logger;
}

/** Limits: generous for Prometheus (a few hundred bytes of headers, one connection per target). */
const MAX_HEADER_BYTES = 8 * 1024;
const MAX_HEADERS = 64;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 60_000;
const MAX_CONNECTIONS = 64;
const PATH = '/metrics';

export class MetricsServer {
  private readonly server: http.Server;

  constructor(private readonly opts: MetricsServerOptions) {
    this.server = http.createServer(
      { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS },
      (req, res) => this.serve(req, res),
    );
    this.server.maxHeadersCount = MAX_HEADERS;
    this.server.maxConnections = MAX_CONNECTIONS;
    // Bad requests (oversized headers, garbage): node's own handler answers 400/431 and closes.
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host || undefined, () => {
        this.server.off('error', onError);
        const addr = this.server.address() as AddressInfo;
        resolve({ host: this.opts.host || addr.address, port: addr.port });
      });
    });
  }

  /** Stops accepting, closes every connection (idle keep-alive ones too) and resolves once closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Never read a body: announce the close, and the body goes with the connection.
    const length = req.headers['content-length'];
    const close = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
    const method = req.method ?? '';
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (method !== 'GET' && method !== 'HEAD') {
      return this.answer(res, 405, 'Method Not Allowed: GET /metrics\n', { Allow: 'GET, HEAD', Connection: 'close' });
    }
    const headers: Record<string, string> = close ? { Connection: 'close' } : {};
    if (path !== PATH) return this.answer(res, 404, 'Not Found: GET /metrics\n', headers);
    let body: string;
    try {
      body = this.opts.registry.render();
    } catch (e) {
      this.opts.logger.warn(`metrics scrape failed: ${(e as Error).message}`);
      return this.answer(res, 500, 'metrics scrape failed\n', headers);
    }
    this.answer(res, 200, body, headers, CONTENT_TYPE);
  }

  private answer(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}, type = 'text/plain; charset=utf-8'): void {
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length, ...headers });
    res.end(bytes);
  }
}
