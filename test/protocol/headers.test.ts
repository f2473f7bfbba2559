import {
  encodeFrame,
  readRequestHeader,
  readResponseHeader,
  requestHeaderVersion,
  responseHeaderVersion,
  writeRequestHeader,
  writeResponseHeader,
} from '../../core/protocol/headers';
import { Reader, ProtocolDecodeError } from '../../core/protocol/reader';
import { Writer } from '../../core/protocol/writer';
import { ApiKey } from '../../core/protocol/generated/index';

describe('header versions', () => {
  it('uses request header v2 exactly for flexible request versions', () => {
    expect(requestHeaderVersion(ApiKey.ApiVersions, 2)).toBe(1);
    expect(requestHeaderVersion(ApiKey.ApiVersions, 3)).toBe(2);
    expect(requestHeaderVersion(ApiKey.Produce, 8)).toBe(1);
    expect(requestHeaderVersion(ApiKey.Produce, 9)).toBe(2);
    expect(requestHeaderVersion(ApiKey.Metadata, 9)).toBe(2);
    expect(requestHeaderVersion(ApiKey.ControlledShutdown, 0)).toBe(0);
    expect(requestHeaderVersion(ApiKey.ControlledShutdown, 1)).toBe(1);
    expect(requestHeaderVersion(9999, 5)).toBe(1);
  });

  it('answers ApiVersions with response header v0 whatever the version', () => {
    for (let v = 0; v <= 4; v++) expect(responseHeaderVersion(ApiKey.ApiVersions, v)).toBe(0);
    expect(responseHeaderVersion(ApiKey.Fetch, 11)).toBe(0);
    expect(responseHeaderVersion(ApiKey.Fetch, 12)).toBe(1);
    expect(responseHeaderVersion(ApiKey.CreateTopics, 5)).toBe(1);
    expect(responseHeaderVersion(9999, 5)).toBe(0);
  });
});

describe('request header', () => {
  it('round-trips v1 and v2 headers, including a null client id', () => {
    for (const h of [
      { apiKey: ApiKey.Metadata, apiVersion: 4, correlationId: 7, clientId: 'kcat' },
      { apiKey: ApiKey.Metadata, apiVersion: 12, correlationId: -1, clientId: null },
      { apiKey: ApiKey.ApiVersions, apiVersion: 3, correlationId: 2147483647, clientId: 'é' },
    ]) {
      const w = new Writer();
      writeRequestHeader(w, h);
      w.writeInt8(0x42); // first body byte
      const r = new Reader(w.toBuffer());
      expect(readRequestHeader(r)).toEqual(h);
      expect(r.int8()).toBe(0x42);
    }
  });

  it('writes clientId as a classic int16 string even in header v2', () => {
    const w = new Writer();
    writeRequestHeader(w, { apiKey: ApiKey.ApiVersions, apiVersion: 3, correlationId: 1, clientId: 'ab' });
    expect(w.toBuffer().toString('hex')).toBe('0012' + '0003' + '00000001' + '0002' + '6162' + '00');
  });

  it('omits clientId for ControlledShutdown v0 (header v0)', () => {
    const w = new Writer();
    writeRequestHeader(w, { apiKey: ApiKey.ControlledShutdown, apiVersion: 0, correlationId: 1, clientId: 'x' });
    expect(w.length).toBe(8);
    const h = readRequestHeader(new Reader(w.toBuffer()));
    expect(h).toEqual({ apiKey: ApiKey.ControlledShutdown, apiVersion: 0, correlationId: 1, clientId: null });
  });

  it('returns the header of unknown api keys and versions, positioned after clientId', () => {
    for (const [apiKey, apiVersion] of [
      [9999, 0],
      [ApiKey.ApiVersions, 99], // newer than we know: its (flexible) tagged fields are left alone
      [ApiKey.Produce, -1],
    ]) {
      const w = new Writer();
      w.writeInt16(apiKey);
      w.writeInt16(apiVersion);
      w.writeInt32(5);
      w.writeString('client');
      w.writeInt8(3); // would be a tagged-field count if parsed
      const r = new Reader(w.toBuffer());
      expect(readRequestHeader(r)).toEqual({ apiKey, apiVersion, correlationId: 5, clientId: 'client' });
      expect(r.remaining).toBe(1);
    }
  });

  it('fails with ProtocolDecodeError on a truncated header', () => {
    expect(() => readRequestHeader(new Reader(Buffer.from([0, 18, 0, 3, 0, 0])))).toThrow(ProtocolDecodeError);
    expect(() => readRequestHeader(new Reader(Buffer.from([0, 18, 0, 3, 0, 0, 0, 1, 0, 9, 0x61])))).toThrow(ProtocolDecodeError);
  });
});

describe('response header and framing', () => {
  it('round-trips v0 and v1 response headers', () => {
    for (const v of [0, 1] as const) {
      const w = new Writer();
      writeResponseHeader(w, 77, v);
      expect(w.length).toBe(v === 0 ? 4 : 5);
      const r = new Reader(w.toBuffer());
      expect(readResponseHeader(r, v)).toEqual({ correlationId: 77 });
      expect(r.remaining).toBe(0);
    }
  });

  it('prefixes the total size without copying the chunks', () => {
    const a = Buffer.from([1, 2, 3]);
    const b = Buffer.alloc(5000);
    const frame = encodeFrame([a, b]);
    expect(frame).toHaveLength(3);
    expect(frame[0].readInt32BE(0)).toBe(5003);
    expect(frame[1]).toBe(a);
    expect(frame[2]).toBe(b);
  });
});
