import { Reader } from './reader';
import { Writer } from './writer';
import { API_MESSAGES, ApiKey } from './generated/index';

/**
 * Request and response headers, and the int32 size framing around every message.
 *
 *   request  = size:int32 | apiKey:int16 apiVersion:int16 correlationId:int32 clientId:string?
 *              | [tagged fields, header v2] | body
 *   response = size:int32 | correlationId:int32 | [tagged fields, header v1] | body
 *
 * The header version follows from the api key and version: flexible request versions use
 * header v2 (v1 plus a tagged-field section), flexible responses header v1. clientId stays a
 * classic int16-length string even in v2, so that a broker can read the header of any
 * ApiVersions request, including versions newer than it knows.
 */

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

export interface ResponseHeader {
  correlationId: number;
}

/** Version 0 of ControlledShutdown predates clientId: it is the only user of header v0. */
function isHeaderV0(apiKey: number, apiVersion: number): boolean {
  return apiKey === ApiKey.ControlledShutdown && apiVersion === 0;
}

function isFlexible(apiKey: number, apiVersion: number): boolean {
  const api = API_MESSAGES.get(apiKey);
  return api !== undefined && apiVersion >= api.flexibleMin;
}

/** 2 for flexible request versions, 1 otherwise (0 for ControlledShutdown v0). */
export function requestHeaderVersion(apiKey: number, apiVersion: number): 0 | 1 | 2 {
  if (isHeaderV0(apiKey, apiVersion)) return 0;
  return isFlexible(apiKey, apiVersion) ? 2 : 1;
}

/**
 * 1 for flexible response versions, 0 otherwise. ApiVersions responses always use v0: a client
 * that does not yet know the broker's versions must be able to read the answer, whatever
 * version it asked in.
 */
export function responseHeaderVersion(apiKey: number, apiVersion: number): 0 | 1 {
  if (apiKey === ApiKey.ApiVersions) return 0;
  return isFlexible(apiKey, apiVersion) ? 1 : 0;
}

/**
 * Reads a request header. For an unknown api key or a version outside the range the codecs
 * know, the header is still returned (so the broker can answer UNSUPPORTED_VERSION) with the
 * reader left just after clientId; tagged fields are read only when the version is known and
 * flexible.
 */
export function readRequestHeader(r: Reader): RequestHeader {
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const clientId = isHeaderV0(apiKey, apiVersion) ? null : r.nullableString();
  const api = API_MESSAGES.get(apiKey);
  if (api !== undefined && apiVersion >= api.minVersion && apiVersion <= api.maxVersion && apiVersion >= api.flexibleMin) {
    r.skipTaggedFields(); // header v2 defines no tagged fields of its own
  }
  return { apiKey, apiVersion, correlationId, clientId };
}

export function writeRequestHeader(w: Writer, h: RequestHeader): void {
  const version = requestHeaderVersion(h.apiKey, h.apiVersion);
  w.writeInt16(h.apiKey);
  w.writeInt16(h.apiVersion);
  w.writeInt32(h.correlationId);
  if (version >= 1) w.writeNullableString(h.clientId);
  if (version >= 2) w.writeEmptyTaggedFields();
}

export function writeResponseHeader(w: Writer, correlationId: number, headerVersion: 0 | 1): void {
  w.writeInt32(correlationId);
  if (headerVersion >= 1) w.writeEmptyTaggedFields();
}

export function readResponseHeader(r: Reader, headerVersion: 0 | 1): ResponseHeader {
  const correlationId = r.int32();
  if (headerVersion >= 1) r.skipTaggedFields();
  return { correlationId };
}

/** Prepends the int32 size of a message given as chunks; the chunks themselves are not copied. */
export function encodeFrame<C extends { readonly length: number } = Buffer>(chunks: C[]): (Buffer | C)[] {
  let size = 0;
  for (const c of chunks) size += c.length;
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeInt32BE(size, 0);
  return [prefix, ...chunks];
}
