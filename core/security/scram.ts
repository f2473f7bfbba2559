import * as crypto from 'node:crypto';
import { StrataError } from '../common/errors';

/**
 * SCRAM (RFC 5802) with SHA-256 and SHA-512 (RFC 7677), as Kafka's SASL mechanisms
 * SCRAM-SHA-256 and SCRAM-SHA-512: the salted credential a broker stores, the server's side of
 * the exchange, and a client for tools and tests.
 *
 *   client-first   n,,n=<user>,r=<client nonce>[,<extensions>]
 *   server-first   r=<client nonce><server nonce>,s=<salt base64>,i=<iterations>
 *   client-final   c=biws,r=<nonce>,p=<proof base64>
 *   server-final   v=<server signature base64>
 *
 * What the broker stores per user and mechanism (never the password): salt, iterations,
 * StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key"),
 * SaltedPassword = PBKDF2(password, salt, iterations). The client proves it knows
 * ClientKey = HMAC(SaltedPassword, "Client Key") by sending ClientKey XOR HMAC(StoredKey,
 * AuthMessage); the server checks H(proof XOR that) = StoredKey, in constant time.
 *
 * As Kafka: channel binding is not supported (gs2 header "n,," only; "y" and "p=" are
 * refused), the authorization id must be empty or equal the user, the extension tokenauth is
 * refused (no delegation tokens), iterations are 4096..16384 for new credentials. An unknown
 * user gets a server-first message built from a made-up credential (stable per user), so the
 * exchange fails at the proof exactly as a wrong password does and does not tell which users
 * exist (RFC 5802 §5.1 suggests this; Kafka fails at once instead). Every message is bounded
 * (MAX_MESSAGE_BYTES) and parsed strictly; any failure is StrataError('SASL_AUTHENTICATION_FAILED')
 * with a message for the broker's log, never the client (the client gets Kafka's generic text).
 */
export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export const SCRAM_MECHANISMS: readonly ScramMechanism[] = ['SCRAM-SHA-256', 'SCRAM-SHA-512'];
/** Kafka's bounds for a credential's iterations (ScramMechanism.minIterations / maxIterations). */
export const MIN_ITERATIONS = 4096;
export const MAX_ITERATIONS = 16384;
/** Longest SCRAM message accepted from a peer: real ones are a few hundred bytes. */
export const MAX_MESSAGE_BYTES = 4096;

export interface ScramCredential {
  mechanism: ScramMechanism;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

const HASH: Record<ScramMechanism, { name: 'sha256' | 'sha512'; bytes: number }> = {
  'SCRAM-SHA-256': { name: 'sha256', bytes: 32 },
  'SCRAM-SHA-512': { name: 'sha512', bytes: 64 },
};

/** The size of the mechanism's hash, and so of SaltedPassword, StoredKey and ServerKey. */
export function scramHashBytes(mechanism: ScramMechanism): number {
  return HASH[mechanism].bytes;
}

export function isScramMechanism(name: string): name is ScramMechanism {
  return (SCRAM_MECHANISMS as readonly string[]).includes(name);
}

/** The credential to store for `password` (a fresh random salt unless given). */
export function scramCredential(mechanism: ScramMechanism, password: string, opts: { salt?: Buffer; iterations?: number } = {}): ScramCredential {
  const iterations = opts.iterations ?? MIN_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new StrataError('CONFIG_INVALID', `SCRAM iterations must be an integer in ${MIN_ITERATIONS}..${MAX_ITERATIONS}, got ${iterations}`);
  }
  const salt = opts.salt ?? crypto.randomBytes(32);
  return scramCredentialFromSalted(mechanism, salt, iterations, saltedPassword(mechanism, password, salt, iterations));
}

/**
 * The credential for a salted password computed elsewhere (AlterUserScramCredentials carries
 * salt, iterations and SaltedPassword: the password itself never reaches the broker).
 */
export function scramCredentialFromSalted(mechanism: ScramMechanism, salt: Buffer, iterations: number, salted: Buffer): ScramCredential {
  return { mechanism, salt, iterations, ...keysFromSalted(mechanism, salted) };
}

/** SaltedPassword (RFC 5802 Hi()): what a client sends in AlterUserScramCredentials. */
export function saltedPassword(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  const h = HASH[mechanism];
  // RFC 5802 Hi() is PBKDF2 with HMAC-H and an output of H's length. Passwords are used as
  // UTF-8 without SASLprep normalisation, as Kafka's ScramFormatter does.
  return crypto.pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, h.bytes, h.name);
}

/** saltedPassword off the event loop (PBKDF2 with thousands of iterations takes milliseconds). */
export function saltedPasswordAsync(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const h = HASH[mechanism];
  return new Promise((resolve, reject) =>
    crypto.pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, h.bytes, h.name, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function keysFromSalted(mechanism: ScramMechanism, salted: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(mechanism, salted, 'Client Key');
  return { storedKey: hash(mechanism, clientKey), serverKey: hmac(mechanism, salted, 'Server Key') };
}

function hmac(mechanism: ScramMechanism, key: Buffer, data: string | Buffer): Buffer {
  return crypto.createHmac(HASH[mechanism].name, key).update(data).digest();
}

function hash(mechanism: ScramMechanism, data: Buffer): Buffer {
  return crypto.createHash(HASH[mechanism].name).update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

function fail(why: string): never {
  throw new StrataError('SASL_AUTHENTICATION_FAILED', why);
}

/** A saslname (RFC 5802 §5.1): ',' is sent as "=2C" and '=' as "=3D"; any other '=' is malformed. */
export function decodeSaslName(s: string): string {
  if (/=(?!2C|3D)/.test(s)) fail(`malformed user name ${JSON.stringify(s)}`);
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

export function encodeSaslName(s: string): string {
  return s.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/** "k=v,k=v" attributes in order; keys are single letters, values may contain '='. */
function attributes(message: string, what: string): Array<[string, string]> {
  return message.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) fail(`malformed ${what}: attribute ${JSON.stringify(part.slice(0, 40))}`);
    return [part[0], part.slice(2)];
  });
}

function utf8(message: Buffer, what: string): string {
  if (message.length > MAX_MESSAGE_BYTES) fail(`${what} is ${message.length} bytes (at most ${MAX_MESSAGE_BYTES})`);
  const s = message.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(message)) fail(`${what} is not valid UTF-8`);
  return s;
}

/** A fresh nonce: 24 random bytes in base64, whose alphabet is within NONCE's. */
function randomNonce(): string {
  return crypto.randomBytes(24).toString('base64');
}

/** Printable ASCII except ',' (RFC 5802's "printable"), for nonces. */
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64(value: string, what: string): Buffer {
  if (!BASE64.test(value) || value.length % 4 !== 0) fail(`${what} is not base64`);
  return Buffer.from(value, 'base64');
}

type ServerState = 'client-first' | 'client-final' | 'done' | 'failed';

/**
 * The broker's side of one SCRAM exchange: `step` takes each client message and returns the
 * answer; after the client-final message `done` is true and `user` names the authenticated
 * user. Any failure throws SASL_AUTHENTICATION_FAILED and the exchange is over.
 */
export class ScramServer {
  private state: ServerState = 'client-first';
  private credential: ScramCredential | null = null;
  private known = false;
  private clientFirstBare = '';
  /** The client-first message's gs2 header ("n,," or "n,a=user,"), which c= must repeat. */
  private gs2Header = '';
  private serverFirst = '';
  private nonce = '';
  private userName: string | null = null;

  constructor(
    readonly mechanism: ScramMechanism,
    /** The stored credential of a user for this mechanism, or null for none. */
    private readonly lookup: (user: string) => ScramCredential | null | Promise<ScramCredential | null>,
    private readonly opts: { serverNonce?: () => string; fakeSaltSecret?: Buffer } = {},
  ) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** The authenticated user, once done. */
  get user(): string | null {
    return this.state === 'done' ? this.userName : null;
  }

  async step(message: Buffer): Promise<Buffer> {
    try {
      if (this.state === 'client-first') return await this.clientFirst(message);
      if (this.state === 'client-final') return this.clientFinal(message);
      return fail(`unexpected SCRAM message after the exchange ${this.state === 'done' ? 'completed' : 'failed'}`);
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
  }

  private async clientFirst(message: Buffer): Promise<Buffer> {
    const text = utf8(message, 'client-first message');
    // gs2-header: channel binding flag, then the authorization id.
    const m = /^([^,]*),([^,]*),(.*)$/s.exec(text);
    if (m === null) fail('malformed client-first message');
    const [, cbind, authzid, bare] = m;
    if (cbind !== 'n') fail(cbind === 'y' || cbind.startsWith('p=') ? 'channel binding is not supported' : `malformed channel binding flag ${JSON.stringify(cbind)}`);
    const attrs = attributes(bare, 'client-first message');
    if (attrs.length < 2 || attrs[0][0] !== 'n' || attrs[1][0] !== 'r') fail('client-first message must start with n= and r=');
    if (attrs[0][1] === '') fail('empty user name');
    const user = decodeSaslName(attrs[0][1]);
    const clientNonce = attrs[1][1];
    if (!NONCE.test(clientNonce)) fail('malformed client nonce');
    for (const [k, v] of attrs.slice(2)) {
      if (k === 'm') fail('mandatory extensions are not supported');
      if (k === 't' || (k === 'e' && v !== '')) fail('delegation tokens are not supported');
    }
    if (authzid !== '') {
      if (!authzid.startsWith('a=') || decodeSaslName(authzid.slice(2)) !== user) fail('the authorization id must be empty or the user name');
    }
    const found = await this.lookup(user);
    this.known = found !== null && found.mechanism === this.mechanism;
    this.credential = this.known ? found : this.madeUp(user);
    this.userName = user;
    this.clientFirstBare = bare;
    this.gs2Header = `${cbind},${authzid},`;
    this.nonce = clientNonce + (this.opts.serverNonce?.() ?? randomNonce());
    const c = this.credential!;
    this.serverFirst = `r=${this.nonce},s=${c.salt.toString('base64')},i=${c.iterations}`;
    this.state = 'client-final';
    return Buffer.from(this.serverFirst, 'utf8');
  }

  private clientFinal(message: Buffer): Buffer {
    const text = utf8(message, 'client-final message');
    const attrs = attributes(text, 'client-final message');
    if (attrs.length < 3 || attrs[0][0] !== 'c' || attrs[1][0] !== 'r' || attrs[attrs.length - 1][0] !== 'p') fail('client-final message must be c=,r=,...,p=');
    if (base64(attrs[0][1], 'channel binding').toString('utf8') !== this.gs2Header) fail('channel binding does not match the client-first message');
    // Kafka checks that the nonce ends with the server-first one, not that it equals it, and
    // librdkafka relies on that: it sends its own nonce again in front of the combined one. The
    // proof covers the message as sent, so the check is no weaker.
    if (!attrs[1][1].endsWith(this.nonce)) fail('nonce does not end with the one the server sent');
    const proof = base64(attrs[attrs.length - 1][1], 'client proof');
    const c = this.credential!;
    const withoutProof = text.slice(0, text.lastIndexOf(',p='));
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.mechanism, c.storedKey, authMessage);
    if (proof.length !== clientSignature.length) fail('client proof has the wrong length');
    const clientKey = xor(proof, clientSignature);
    const valid = crypto.timingSafeEqual(hash(this.mechanism, clientKey), c.storedKey);
    if (!valid || !this.known) fail(`invalid credentials for user ${JSON.stringify(this.userName)}`);
    this.state = 'done';
    return Buffer.from(`v=${hmac(this.mechanism, c.serverKey, authMessage).toString('base64')}`, 'utf8');
  }

  /** For an unknown user: a credential nobody can match, the same for the same user (salt from a per-process secret). */
  private madeUp(user: string): ScramCredential {
    const secret = this.opts.fakeSaltSecret ?? FAKE_SALT_SECRET;
    const salt = crypto.createHmac('sha256', secret).update(`${this.mechanism}\0${user}`).digest();
    const random = crypto.randomBytes(HASH[this.mechanism].bytes);
    return { mechanism: this.mechanism, salt, iterations: MIN_ITERATIONS, storedKey: random, serverKey: random };
  }
}

const FAKE_SALT_SECRET = crypto.randomBytes(32);

/**
 * The client's side (strata's own tools and tests): first() gives the client-first message,
 * final(serverFirst) the client-final one, verify(serverFinal) checks the server's signature.
 */
export class ScramClient {
  private readonly clientNonce: string;
  private clientFirstBare = '';
  private authMessage = '';
  private saltedPassword: Buffer | null = null;

  constructor(
    readonly mechanism: ScramMechanism,
    private readonly user: string,
    private readonly password: string,
    nonce?: string,
  ) {
    this.clientNonce = nonce ?? randomNonce();
  }

  first(): Buffer {
    this.clientFirstBare = `n=${encodeSaslName(this.user)},r=${this.clientNonce}`;
    return Buffer.from(`n,,${this.clientFirstBare}`, 'utf8');
  }

  final(serverFirst: Buffer): Buffer {
    const text = utf8(serverFirst, 'server-first message');
    const attrs = new Map(attributes(text, 'server-first message'));
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (nonce === undefined || !nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) fail('server nonce does not extend the client nonce');
    if (salt === undefined || !Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) fail('malformed server-first message');
    this.saltedPassword = saltedPassword(this.mechanism, this.password, base64(salt, 'salt'), iterations);
    const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${nonce}`;
    this.authMessage = `${this.clientFirstBare},${text},${withoutProof}`;
    const clientKey = hmac(this.mechanism, this.saltedPassword, 'Client Key');
    const proof = xor(clientKey, hmac(this.mechanism, hash(this.mechanism, clientKey), this.authMessage));
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  verify(serverFinal: Buffer): void {
    const text = utf8(serverFinal, 'server-final message');
    if (text.startsWith('e=')) fail(`the server refused: ${text.slice(2)}`);
    if (!text.startsWith('v=') || this.saltedPassword === null) fail('malformed server-final message');
    const expected = hmac(this.mechanism, hmac(this.mechanism, this.saltedPassword, 'Server Key'), this.authMessage);
    const got = base64(text.slice(2), 'server signature');
    if (got.length !== expected.length || !crypto.timingSafeEqual(got, expected)) fail('the server signature does not match: not the server that holds the credential');
  }
}
