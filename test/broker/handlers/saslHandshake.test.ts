/**
 * SaslHandshake through the dispatcher, bytes in and bytes out: the answer of a broker without
 * SASL, the rate-limited log line, and the dispatcher's listener settings from the config.
 */
import { createLogger } from '../../../core/common/logger';
import { loadBrokerConfig } from '../../../core/config/brokerConfig';
import { Dispatcher } from '../../../core/broker/dispatcher';
import { createSaslHandshakeHandler } from '../../../core/broker/handlers/saslHandshake';
import { saslAuthenticateHandler } from '../../../core/broker/handlers/saslAuthenticate';
import type { BrokerContext } from '../../../core/broker/handlers/types';
import type { ConnectionInfo } from '../../../core/broker/server';
import { ANONYMOUS } from '../../../core/security/principal';
import { API_MESSAGES, ApiKey } from '../../../core/protocol/generated/index';
import { ErrorCode } from '../../../core/protocol/errorCodes';
import { readResponseHeader, responseHeaderVersion, writeRequestHeader } from '../../../core/protocol/headers';
import { Reader } from '../../../core/protocol/reader';
import { Writer } from '../../../core/protocol/writer';

let lines: string[] = [];
const conn: ConnectionInfo = {
  id: 1,
  remote: '10.0.0.9:51000',
  remoteIp: '10.0.0.9',
  listenerName: 'PLAINTEXT',
  securityProtocol: 'PLAINTEXT',
  principal: ANONYMOUS,
  throttle: () => undefined,
};

function dispatcher(config = loadBrokerConfig({ flags: {} }), logIntervalMs = 10_000): Dispatcher {
  const broker = { config, logger: createLogger('requests', (l) => lines.push(l)) } as unknown as BrokerContext;
  return new Dispatcher(broker, [createSaslHandshakeHandler(logIntervalMs)]);
}

function request(apiKey: number, version: number, body: unknown, correlationId = 7): Buffer {
  const w = new Writer();
  writeRequestHeader(w, { apiKey, apiVersion: version, correlationId, clientId: 'sasl-app' });
  API_MESSAGES.get(apiKey)!.writeRequest(w, version, body);
  return w.toBuffer();
}

function response(apiKey: number, version: number, frame: Buffer[]): { correlationId: number; body: any } {
  const r = new Reader(Buffer.concat(frame).subarray(4));
  const { correlationId } = readResponseHeader(r, responseHeaderVersion(apiKey, version));
  return { correlationId, body: API_MESSAGES.get(apiKey)!.readResponse(r, version) };
}

beforeEach(() => {
  lines = [];
});

test('v0 and v1: UNSUPPORTED_SASL_MECHANISM with the (empty) list of enabled mechanisms', () => {
  const d = dispatcher();
  for (const version of [0, 1]) {
    const out = d.handle(request(ApiKey.SaslHandshake, version, { mechanism: 'SCRAM-SHA-512' }), conn) as Buffer[];
    expect(response(ApiKey.SaslHandshake, version, out)).toEqual({
      correlationId: 7,
      body: { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: [] },
    });
  }
  expect(d.supportedApis()).toEqual([{ apiKey: ApiKey.SaslHandshake, minVersion: 0, maxVersion: 1 }]);
});

test('one log line per interval, naming the client and the fix, then a count of the rest', () => {
  const d = dispatcher(undefined, 60_000);
  for (let i = 0; i < 5; i++) d.handle(request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' }), conn);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    /WARN {2}\[requests\] 10\.0\.0\.9:51000 \(client sasl-app\) asked for SASL mechanism PLAIN, but listener PLAINTEXT is PLAINTEXT, without SASL; answered UNSUPPORTED_SASL_MECHANISM\. Configure the client with security\.protocol=PLAINTEXT, or point it at a SASL_PLAINTEXT or SASL_SSL listener\.$/,
  );
  const now = Date.now();
  const clock = jest.spyOn(Date, 'now').mockReturnValue(now + 60_000);
  try {
    d.handle(request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' }), conn);
  } finally {
    clock.mockRestore();
  }
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatch(/SASL_SSL listener \(4 more SaslHandshake requests since the previous line\)\.$/);
});

test('SaslAuthenticate on a listener without SASL: ILLEGAL_SASL_STATE, and the API is advertised (clients pick the v1 flow by it)', () => {
  const broker = { config: loadBrokerConfig({ flags: {} }), logger: createLogger('requests', (l) => lines.push(l)) } as unknown as BrokerContext;
  const d = new Dispatcher(broker, [createSaslHandshakeHandler(), saslAuthenticateHandler]);
  const out = d.handle(request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.alloc(0) }), conn) as Buffer[];
  expect(response(ApiKey.SaslAuthenticate, 1, out).body).toMatchObject({
    errorCode: ErrorCode.ILLEGAL_SASL_STATE,
    errorMessage: 'Unexpected SaslAuthenticate request: listener PLAINTEXT is PLAINTEXT, without SASL',
  });
  expect(d.supportedApis().map((a) => a.apiKey)).toEqual([ApiKey.SaslHandshake, ApiKey.SaslAuthenticate]);
});

test('the broker config names the listener and carries its connection limits', () => {
  const config = loadBrokerConfig({
    flags: {
      listeners: 'INTERNAL://127.0.0.1:0',
      'listener.security.protocol.map': 'INTERNAL:PLAINTEXT',
      'max.connections': '100',
      'max.connections.per.ip': '10',
      'max.connections.per.ip.overrides': '10.0.0.1:50',
    },
  });
  expect({ listenerName: config.listeners[0].name, maxConnections: config.maxConnections, maxConnectionsPerIp: config.maxConnectionsPerIp, maxConnectionsPerIpOverrides: config.maxConnectionsPerIpOverrides }).toEqual({
    listenerName: 'INTERNAL',
    maxConnections: 100,
    maxConnectionsPerIp: 10,
    maxConnectionsPerIpOverrides: { '10.0.0.1': 50 },
  });
});
