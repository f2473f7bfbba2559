/**
 * SCRAM-SHA-256/512 (core/security/scram.ts): RFC 7677's worked example byte for byte, a full
 * exchange between our client and server for both mechanisms, and every way a client-side
 * message can be wrong (each fails the exchange with SASL_AUTHENTICATION_FAILED, and an unknown
 * user fails exactly where a wrong password does).
 */
import { isStrataError } from '../../core/common/errors';
import { MAX_MESSAGE_BYTES, ScramClient, ScramServer, SCRAM_MECHANISMS, decodeSaslName, encodeSaslName, scramCredential, type ScramCredential, type ScramMechanism } from '../../core/security/scram';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

async function expectAuthFailure(p: Promise<unknown> | (() => unknown), message?: RegExp): Promise<void> {
  let err: unknown = null;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(isStrataError(err, 'SASL_AUTHENTICATION_FAILED')).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('RFC 7677 §3: the SCRAM-SHA-256 example', () => {
  // user "user", password "pencil", 4096 iterations.
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const clientNonce = 'rOprNGfwEbeRWgbNEkqO';
  const serverNonce = '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const clientFinal = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
  const serverFinal = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

  test('our server answers the RFC client with the RFC messages', async () => {
    const cred = scramCredential('SCRAM-SHA-256', 'pencil', { salt, iterations: 4096 });
    const server = new ScramServer('SCRAM-SHA-256', (u) => (u === 'user' ? cred : null), { serverNonce: () => serverNonce });
    expect((await server.step(b(`n,,n=user,r=${clientNonce}`))).toString()).toBe(`r=${clientNonce}${serverNonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`);
    expect((await server.step(b(clientFinal))).toString()).toBe(serverFinal);
    expect(server.done).toBe(true);
    expect(server.user).toBe('user');
  });

  test('our client sends the RFC messages and accepts the RFC server signature', () => {
    const client = new ScramClient('SCRAM-SHA-256', 'user', 'pencil', clientNonce);
    expect(client.first().toString()).toBe(`n,,n=user,r=${clientNonce}`);
    expect(client.final(b(`r=${clientNonce}${serverNonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`)).toString()).toBe(clientFinal);
    expect(() => client.verify(b(serverFinal))).not.toThrow();
    expect(() => client.verify(b('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='))).toThrow(/server signature does not match/);
  });
});

describe.each(SCRAM_MECHANISMS.map((m) => [m]))('%s', (mechanism: ScramMechanism) => {
  const users = new Map<string, ScramCredential>([
    ['alice', scramCredential(mechanism, 'wonderland')],
    ['a,b=c', scramCredential(mechanism, 'commas')],
  ]);
  const server = () => new ScramServer(mechanism, (u) => users.get(u) ?? null);

  async function exchange(user: string, password: string): Promise<ScramServer> {
    const s = server();
    const c = new ScramClient(mechanism, user, password);
    const first = await s.step(c.first());
    const last = await s.step(c.final(first));
    c.verify(last);
    return s;
  }

  test('the right password authenticates (names with , and = too); the credential holds no password', async () => {
    expect((await exchange('alice', 'wonderland')).user).toBe('alice');
    expect((await exchange('a,b=c', 'commas')).user).toBe('a,b=c');
    const cred = users.get('alice')!;
    expect(cred.storedKey).toHaveLength(mechanism === 'SCRAM-SHA-256' ? 32 : 64);
    expect(JSON.stringify(cred)).not.toContain('wonderland');
  });

  test('a wrong password and an unknown user fail alike, at the proof', async () => {
    await expectAuthFailure(exchange('alice', 'Wonderland'), /invalid credentials for user "alice"/);
    // The unknown user gets a server-first message shaped like anyone's, with a stable salt.
    const s1 = server();
    const s2 = server();
    const f1 = (await s1.step(b('n,,n=mallory,r=abc'))).toString();
    const f2 = (await s2.step(b('n,,n=mallory,r=abc'))).toString();
    expect(f1).toMatch(/^r=abc[^,]+,s=[A-Za-z0-9+/]+=*,i=4096$/);
    expect(f1.split(',')[1]).toBe(f2.split(',')[1]);
    await expectAuthFailure(exchange('mallory', 'anything'), /invalid credentials for user "mallory"/);
  });

  test('a credential of the other mechanism does not authenticate', async () => {
    const other: ScramMechanism = mechanism === 'SCRAM-SHA-256' ? 'SCRAM-SHA-512' : 'SCRAM-SHA-256';
    const s = new ScramServer(mechanism, () => scramCredential(other, 'pw'));
    const c = new ScramClient(mechanism, 'bob', 'pw');
    const first = await s.step(c.first());
    await expectAuthFailure(s.step(c.final(first)));
  });

  test('malformed or hostile client messages end the exchange with SASL_AUTHENTICATION_FAILED', async () => {
    const firsts: Array<[string, RegExp]> = [
      ['', /malformed client-first/],
      ['n,,', /malformed client-first/],
      ['y,,n=alice,r=abc', /channel binding is not supported/],
      ['p=tls-unique,,n=alice,r=abc', /channel binding is not supported/],
      ['n,,r=abc,n=alice', /must start with n= and r=/],
      ['n,,n=,r=abc', /empty user name/],
      ['n,,n=al=ice,r=abc', /malformed user name/],
      ['n,,n=alice,r=a,bc', /malformed client-first/],
      ['n,a=bob,n=alice,r=abc', /authorization id/],
      ['n,,n=alice,r=abc,m=x', /mandatory extensions/],
      ['n,,n=alice,r=abc,tokenauth=true', /malformed client-first/],
      ['n,,n=alice,r=\u0000', /malformed client nonce/],
      [`n,,n=alice,r=${'x'.repeat(MAX_MESSAGE_BYTES)}`, /bytes \(at most/],
    ];
    for (const [msg, why] of firsts) await expectAuthFailure(server().step(b(msg)), why);
    await expectAuthFailure(server().step(Buffer.from([0xff, 0xfe])), /not valid UTF-8/);

    // Client-final messages against a server that sent its first message.
    const finals = async (make: (nonce: string, good: string) => string, why: RegExp) => {
      const s = server();
      const c = new ScramClient(mechanism, 'alice', 'wonderland', 'cnonce');
      const first = await s.step(c.first());
      const good = c.final(first).toString();
      const nonce = /r=([^,]+)/.exec(first.toString())![1];
      await expectAuthFailure(s.step(b(make(nonce, good))), why);
      // The exchange is over: even the right message is refused now.
      await expectAuthFailure(s.step(b(good)), /after the exchange failed/);
    };
    await finals((_, g) => g.replace(/r=[^,]+/, 'r=cnonceOTHER'), /nonce does not end with the one the server sent/);
    await finals((n) => `c=biws,r=${n},p=${Buffer.alloc(7).toString('base64')}`, /wrong length/);
    await finals((n) => `c=eSws,r=${n},p=AAAA`, /channel binding does not match/);
    await finals((n) => `c=biws,r=${n},p=not*base64`, /not base64/);
    await finals((_, g) => g.split(',p=')[0], /must be c=,r=,...,p=/);
    await finals((_, g) => g.replace(/p=(.)/, (m, ch: string) => `p=${ch === 'A' ? 'B' : 'A'}`), /invalid credentials/);
  });
});

test('saslname escaping round-trips', () => {
  for (const name of ['plain', 'a,b', 'a=b', '=2C', ',=,=']) expect(decodeSaslName(encodeSaslName(name))).toBe(name);
  expect(encodeSaslName('a,b=c')).toBe('a=2Cb=3Dc');
});

test('iterations outside Kafka\'s 4096..16384 are refused for new credentials', () => {
  expect(() => scramCredential('SCRAM-SHA-512', 'pw', { iterations: 4095 })).toThrow(/4096\.\.16384/);
  expect(() => scramCredential('SCRAM-SHA-512', 'pw', { iterations: 16385 })).toThrow(/4096\.\.16384/);
  expect(scramCredential('SCRAM-SHA-512', 'pw', { iterations: 8192 }).iterations).toBe(8192);
});
