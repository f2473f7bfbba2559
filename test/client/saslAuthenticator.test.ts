import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { StrataClient } from '../../core/client/client';
import { KafkaConnection, type ConnectionOptions } from '../../core/client/connection';
import { encodeRecordBatch } from '../../core/client/records';
import { reauthenticationDelayMs } from '../../core/client/saslAuthenticator';
import type { ConnectionSecurity, SaslMechanism } from '../../core/client/security';
import { ApiKey } from '../../core/protocol/generated/index';
import { makeCerts } from '../helpers/certs';
import { waitFor } from '../helpers/waitFor';
import { FakeBroker, type FakeBrokerOptions } from './fakeBroker';

/**
 * The client's SASL exchange (SaslHandshake v1 + SaslAuthenticate) against the fake broker's
 * SASL listener, which checks PLAIN passwords and runs Strata's ScramServer: mechanisms,
 * failures and their codes, old SaslAuthenticate versions, and KIP-368 re-authentication.
 * The same flows against a real broker are in saslConnection.test.ts.
 */

const USERS = { alice: 'alice-secret', bob: 'bob-secret' };
const ALL: SaslMechanism[] = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'];

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function saslBroker(opts: Partial<FakeBrokerOptions> & { mechanisms?: SaslMechanism[]; sessionLifetimeMs?: bigint; users?: Record<string, string> } = {}): Promise<FakeBroker> {
  const b = await FakeBroker.start({ ...opts, sasl: { mechanisms: opts.mechanisms ?? ALL, users: opts.users ?? USERS, sessionLifetimeMs: opts.sessionLifetimeMs } });
  open.push(b);
  return b;
}

const saslPlaintext = (mechanism: SaslMechanism, username = 'alice', password = USERS.alice): ConnectionSecurity => ({ protocol: 'SASL_PLAINTEXT', sasl: { mechanism, username, password } });

async function connect(b: FakeBroker, security: ConnectionSecurity, extra: Partial<ConnectionOptions> = {}): Promise<KafkaConnection> {
  const c = await KafkaConnection.connect({ host: '127.0.0.1', port: b.port, security, ...extra });
  open.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<StrataError> {
  const e = await p.then(
    (c) => {
      (c as KafkaConnection | undefined)?.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StrataError);
  return e as StrataError;
}

const metadata = (c: KafkaConnection) => c.send(ApiKey.Metadata, { topics: [], allowAutoTopicCreation: false });
const apiKeys = (b: FakeBroker) => b.received.map((h) => h.apiKey);

describe('SASL authentication on connect', () => {
  it.each(ALL)('authenticates with %s, then sends requests as the user', async (mechanism) => {
    const b = await saslBroker();
    const c = await connect(b, saslPlaintext(mechanism));
    expect(b.authenticated).toEqual([{ user: 'alice', mechanism }]);
    expect(c.saslAuthentications).toBe(1);
    await metadata(c);
    const rounds = mechanism === 'PLAIN' ? 1 : 2;
    expect(apiKeys(b)).toEqual([ApiKey.ApiVersions, ApiKey.SaslHandshake, ...Array(rounds).fill(ApiKey.SaslAuthenticate), ApiKey.Metadata]);
    expect(b.received[1].apiVersion).toBe(1);
    expect(b.received[2].apiVersion).toBe(2);
  });

  it.each(ALL)('fails %s with a wrong password as SASL_AUTHENTICATION_FAILED carrying the broker message', async (mechanism) => {
    const b = await saslBroker();
    const e = await refusal(connect(b, saslPlaintext(mechanism, 'alice', 'wrong')));
    expect(e.code).toBe('SASL_AUTHENTICATION_FAILED');
    expect(e.message).toContain(`authentication with 127.0.0.1:${b.port} as 'alice' (${mechanism}) failed: `);
    expect(e.message).toContain(mechanism === 'PLAIN' ? 'Invalid username or password' : `due to invalid credentials with SASL mechanism ${mechanism}`);
    expect(e.message).not.toContain('wrong');
    expect(b.authenticated).toEqual([]);
  });

  it('fails with UNSUPPORTED_SASL_MECHANISM naming the mechanisms the listener enables', async () => {
    const b = await saslBroker({ mechanisms: ['SCRAM-SHA-512'] });
    const e = await refusal(connect(b, saslPlaintext('PLAIN')));
    expect(e.code).toBe('UNSUPPORTED_SASL_MECHANISM');
    expect(e.message).toBe(`Client SASL mechanism 'PLAIN' not enabled in the server at 127.0.0.1:${b.port}, enabled mechanisms are [SCRAM-SHA-512]`);
  });

  it('uses SaslAuthenticate v0 and v1 when the broker offers no newer one', async () => {
    for (const max of [0, 1]) {
      const b = await saslBroker({
        versions: new Map([
          [ApiKey.ApiVersions, [0, 3]],
          [ApiKey.Metadata, [0, 12]],
          [ApiKey.SaslHandshake, [0, 1]],
          [ApiKey.SaslAuthenticate, [0, max]],
        ]),
      });
      await metadata(await connect(b, saslPlaintext('SCRAM-SHA-256')));
      expect(b.received.filter((h) => h.apiKey === ApiKey.SaslAuthenticate).map((h) => h.apiVersion)).toEqual([max, max]);
    }
  });

  it('refuses a broker that speaks only SaslHandshake v0 or none at all, and settings without credentials', async () => {
    const v0 = await saslBroker({ versions: new Map([[ApiKey.ApiVersions, [0, 3]], [ApiKey.SaslHandshake, [0, 0]], [ApiKey.SaslAuthenticate, [0, 2]]]) });
    expect((await refusal(connect(v0, saslPlaintext('PLAIN')))).message).toContain('speaks only SaslHandshake v0');
    const none = await saslBroker({ versions: new Map([[ApiKey.ApiVersions, [0, 3]], [ApiKey.Metadata, [0, 12]]]) });
    expect((await refusal(connect(none, saslPlaintext('PLAIN')))).message).toContain('does not offer SaslHandshake: is this a SASL listener?');
    const e = await refusal(KafkaConnection.connect({ host: '127.0.0.1', port: none.port, security: { protocol: 'SASL_SSL' } }));
    expect(e.code).toBe('CONFIG_INVALID');
  });

  it('authenticates over TLS (SASL_SSL)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-sasl-ssl-'));
    try {
      const certs = makeCerts(dir);
      const read = (f: string) => fs.readFileSync(f, 'utf8');
      const b = await saslBroker({ tls: { key: read(certs.server.key), cert: read(certs.server.cert) } });
      const c = await connect(b, { protocol: 'SASL_SSL', tls: { ca: read(certs.ca.cert) }, sasl: { mechanism: 'SCRAM-SHA-512', username: 'bob', password: USERS.bob } });
      await metadata(c);
      expect(b.authenticated).toEqual([{ user: 'bob', mechanism: 'SCRAM-SHA-512' }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('authenticates every connection of a StrataClient', async () => {
    const b = await saslBroker();
    b.createTopic('orders', 1);
    const client = new StrataClient({ bootstrapServers: [b.bootstrap], security: saslPlaintext('SCRAM-SHA-256'), retries: 0 });
    open.push(client);
    await client.produce('orders', 0, [{ value: 'v' }]);
    expect((await client.fetch('orders', 0, 0n)).records).toHaveLength(1);
    expect(b.authenticated.length).toBeGreaterThanOrEqual(1);
    expect(b.authenticated.every((a) => a.user === 'alice')).toBe(true);
  });
});

describe('re-authentication (KIP-368)', () => {
  it('re-authenticates at 85-95% of the session lifetime', () => {
    expect(reauthenticationDelayMs(10_000, () => 0)).toBe(8500);
    expect(reauthenticationDelayMs(10_000, () => 0.999999)).toBe(9499);
  });

  it('re-authenticates on the same connection before the session expires, holding new requests meanwhile and keeping their order', async () => {
    const b = await saslBroker({ sessionLifetimeMs: 300n });
    b.createTopic('orders', 1);
    const c = await connect(b, saslPlaintext('SCRAM-SHA-512'));
    const produced: bigint[] = [];
    // Keep requests going across several re-authentications.
    const deadline = Date.now() + 15_000;
    let i = 0;
    while (b.authenticated.length < 4 && Date.now() < deadline) {
      const batch = await Promise.all(
        [0, 1, 2].map(() =>
          c.send(ApiKey.Produce, {
            transactionalId: null,
            acks: 1,
            timeoutMs: 1000,
            topicData: [{ name: 'orders', partitionData: [{ index: 0, records: encodeRecordBatch([{ value: `r${i++}` }], 'none') }] }],
          }),
        ),
      );
      for (const r of batch) produced.push(r.responses[0].partitionResponses[0].baseOffset);
    }
    expect(b.authenticated.length).toBeGreaterThanOrEqual(4);
    expect(c.saslAuthentications).toBe(b.authenticated.length);
    expect(c.closed).toBe(false);
    // Every request was answered, in the order sent.
    expect(produced).toEqual(produced.map((_, k) => BigInt(k)));
    // Nothing else went out while a re-authentication ran: each SaslHandshake is followed by its two SaslAuthenticates.
    const keys = apiKeys(b);
    keys.forEach((k, at) => {
      if (k === ApiKey.SaslHandshake) expect(keys.slice(at + 1, at + 3)).toEqual([ApiKey.SaslAuthenticate, ApiKey.SaslAuthenticate]);
    });
  });

  it('closes the connection with its error when re-authentication fails', async () => {
    const users: Record<string, string> = { ...USERS };
    const b = await saslBroker({ sessionLifetimeMs: 200n, users });
    const c = await connect(b, saslPlaintext('PLAIN'));
    b.received.length = 0;
    // The user is deleted after the first authentication: the re-authentication is refused.
    delete users.alice;
    const closed = new Promise<StrataError>((resolve) => c.onClose(resolve));
    await waitFor(() => c.closed, { timeoutMs: 5000, message: 're-authentication fails and closes the connection' });
    const err = await closed;
    expect(b.received.filter((h) => h.apiKey === ApiKey.SaslAuthenticate)).toHaveLength(1);
    expect(err.code).toBe('SASL_AUTHENTICATION_FAILED');
    expect(err.message).toContain(`re-authentication: authentication with 127.0.0.1:${b.port} as 'alice' (PLAIN) failed: Authentication failed: Invalid username or password`);
    const late = await refusal(metadata(c));
    expect(late.code).toBe('SASL_AUTHENTICATION_FAILED');
  });

  it('fails requests held during a failing re-authentication with its error', async () => {
    const users: Record<string, string> = { ...USERS };
    let handshakes = 0;
    let releaseHandshake: () => void = () => undefined;
    const gate = new Promise<void>((r) => (releaseHandshake = r));
    const b = await saslBroker({ sessionLifetimeMs: 200n, users });
    const c = await connect(b, saslPlaintext('PLAIN'));
    // Hold the re-authentication's SaslHandshake answer until a request is queued behind it.
    b.onSaslHandshake = async () => {
      if (++handshakes === 1) {
        delete users.alice;
        await gate;
      }
    };
    await waitFor(() => handshakes === 1, { timeoutMs: 5000, message: 'the re-authentication starts' });
    const held = metadata(c);
    releaseHandshake();
    const e = await refusal(held);
    expect(e.code).toBe('SASL_AUTHENTICATION_FAILED');
    expect(b.received.filter((h) => h.apiKey === ApiKey.Metadata)).toHaveLength(0);
  });
});
