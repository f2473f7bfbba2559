import { Reader } from '../protocol/reader';
import { Writer } from '../protocol/writer';
import { encodeFrame, readRequestHeader, responseHeaderVersion, writeResponseHeader } from '../protocol/headers';
import { API_MESSAGES, ApiKey } from '../protocol/generated/index';
import { ErrorCode } from '../protocol/errorCodes';
import type { ConnectionInfo, FrameHandler } from './server';
import type { ResponseChunk } from '../common/fileRegion';
import type { ApiHandler, BrokerContext, RequestContext } from './handlers/types';
import type { RequestMetrics } from '../metrics/requestMetrics';
import { applyRequestQuota } from '../quota/requestQuota';

/**
 * Decodes the request header, routes to the API's handler, encodes the response frame.
 * A request that cannot be parsed throws, and the server closes that connection with a log
 * line (as Kafka does); the broker keeps serving every other connection.
 * With `metrics` (metrics.listener set), each answered request is counted and timed there.
 */
export class Dispatcher implements FrameHandler {
  private readonly handlers = new Map<number, ApiHandler>();

  constructor(
    private readonly broker: BrokerContext,
    handlers: ApiHandler[],
    private readonly metrics: RequestMetrics | null = null,
  ) {
    for (const h of handlers) this.handlers.set(h.apiKey, h);
  }

  /**
   * The advertised (apiKey, min, max) ranges: from the oldest version our codecs speak to the
   * newest stable one (Kafka keeps a schema's unstable latest version out of ApiVersions).
   */
  supportedApis(): { apiKey: number; minVersion: number; maxVersion: number }[] {
    return [...this.handlers.keys()]
      .sort((a, b) => a - b)
      .map((k) => {
        const m = API_MESSAGES.get(k)!;
        return { apiKey: k, minVersion: m.minVersion, maxVersion: m.latestVersionUnstable ? m.maxVersion - 1 : m.maxVersion };
      });
  }

  handle(frame: Buffer, conn: ConnectionInfo): ResponseChunk[] | null | Promise<ResponseChunk[] | null> {
    // request_percentage quotas: the time from here to the handler's first wait (core/quota/requestQuota.ts).
    const quotas = this.broker.quotas?.enabled('request') ? this.broker.quotas : undefined;
    const began = quotas ? performance.now() : 0;
    const r = new Reader(frame);
    const header = readRequestHeader(r);
    const meta = API_MESSAGES.get(header.apiKey);
    const handler = this.handlers.get(header.apiKey);
    if (!meta || !handler) {
      const name = meta ? ` (${meta.name}, which Strata does not serve)` : '';
      throw new Error(`unsupported api key ${header.apiKey}${name} (correlation id ${header.correlationId}, client ${header.clientId})`);
    }
    const version = header.apiVersion;
    if (version < meta.minVersion || version > meta.maxVersion) {
      if (header.apiKey === ApiKey.ApiVersions) {
        // KIP-511: answer an unknown ApiVersions version with v0 and UNSUPPORTED_VERSION, so the
        // client can retry with a version from our list.
        const res = { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: this.supportedApis() };
        return this.encode(header.apiKey, 0, header.correlationId, res);
      }
      throw new Error(`unsupported version ${version} of api key ${header.apiKey} (${meta.name}) from ${conn.remote}`);
    }
    const req = meta.readRequest(r, version);
    if (this.broker.logger.debugEnabled) {
      this.broker.logger.debug(`${conn.remote} ${meta.name} v${version} correlation ${header.correlationId} client ${header.clientId}`);
    }
    const ctx: RequestContext = { header, version, conn, broker: this.broker };
    const metrics = this.metrics;
    const start = metrics === null ? 0 : metrics.begin(header.apiKey, req);
    if (version < handler.minImplemented) {
      const res = handler.errorResponse(req, ErrorCode.UNSUPPORTED_VERSION, ctx);
      metrics?.end(header.apiKey, req, res, start);
      return this.encode(header.apiKey, version, header.correlationId, res);
    }
    const out = handler.handle(req, ctx);
    const elapsedMs = quotas ? performance.now() - began : 0;
    if (out instanceof Promise) {
      return out.then((res) => {
        if (quotas) applyRequestQuota(quotas, conn, header.clientId, header.apiKey, version, req, res, elapsedMs);
        metrics?.end(header.apiKey, req, res, start);
        return res === null ? null : this.encode(header.apiKey, version, header.correlationId, res);
      });
    }
    if (quotas) applyRequestQuota(quotas, conn, header.clientId, header.apiKey, version, req, out, elapsedMs);
    metrics?.end(header.apiKey, req, out, start);
    return out === null ? null : this.encode(header.apiKey, version, header.correlationId, out);
  }

  private encode(apiKey: number, version: number, correlationId: number, body: unknown): ResponseChunk[] {
    return encodeResponse(apiKey, version, correlationId, body);
  }
}

/** A response frame (size prefix, header, body) for `apiKey` at `version`. */
export function encodeResponse(apiKey: number, version: number, correlationId: number, body: unknown): ResponseChunk[] {
  const w = new Writer();
  writeResponseHeader(w, correlationId, responseHeaderVersion(apiKey, version));
  API_MESSAGES.get(apiKey)!.writeResponse(w, version, body);
  return encodeFrame(w.toResponseChunks());
}
