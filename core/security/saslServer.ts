import * as crypto from 'node:crypto';
import { StrataError, isStrataError } from '../common/errors';
import type { ResponseChunk } from '../common/fileRegion';
import type { Logger } from '../common/logger';
import { encodeResponse } from '../broker/dispatcher';
import type { AuthenticatingConnection } from '../broker/server';
import type { SaslMechanism, SaslSettings } from '../config/securityConfigs';
import { ErrorCode } from '../protocol/errorCodes';
import { API_MESSAGES, ApiKey } from '../protocol/generated/index';
import { readRequestHeader } from '../protocol/headers';
import { Reader } from '../protocol/reader';
import type { SaslAuthenticateRequest } from '../protocol/generated/SaslAuthenticateRequest';
import type { SaslHandshakeRequest } from '../protocol/generated/SaslHandshakeRequest';
import { parsePlain, passwordMatches } from './saslPlain';
import { MIN_ITERATIONS, SCRAM_MECHANISMS, ScramServer, isScramMechanism, saltedPasswordAsync, scramCredentialFromSalted, type ScramCredential, type ScramMechanism } from './scram';
import { userPrincipal, type KafkaPrincipal } from './principal';

/**
 * The broker's side of SASL on one connection of a SASL_PLAINTEXT or SASL_SSL listener, as
 * Kafka's SaslServerAuthenticator:
 *
 *   ApiVersions*            answered (clients learn the versions first)
 *   SaslHandshake(m)        m must be in sasl.enabled.mechanisms, else UNSUPPORTED_SASL_MECHANISM
 *                           with the enabled list, and the connection is closed
 *   v0 handshake:           the mechanism's tokens follow as bare size-prefixed frames
 *   v1+ handshake:          they follow in SaslAuthenticate requests
 *   success                 the principal is User:<name>; every API is served from then on
 *   failure                 SASL_AUTHENTICATION_FAILED ("Authentication failed during
 *                           authentication due to invalid credentials with SASL mechanism M"),
 *                           then the connection is closed after
 *                           connection.failed.authentication.delay.ms
 *
 * Before authentication only ApiVersions and the SASL requests are accepted (anything else
 * closes the connection) and no frame may exceed sasl.server.max.receive.size.
 * With connections.max.reauth.ms (KIP-368) the session's lifetime is told to v1+ clients, who
 * re-authenticate on the same connection (SaslHandshake + SaslAuthenticate again, same
 * mechanism, same user) before it ends; a request after the end closes the connection.
 */
export interface SaslServerContext {
  readonly settings: SaslSettings;
  /** SCRAM credentials, by user and mechanism (the metadata store). */
  scramCredential(user: string, mechanism: ScramMechanism): Promise<ScramCredential | null>;
  /** PLAIN users from the listener's JAAS config (user_NAME="password"). */
  readonly plainUsers: ReadonlyMap<string, string>;
  readonly logger: Logger;
  /** Counts outcomes (metrics); optional. */
  onOutcome?(mechanism: string, outcome: 'success' | 'failure'): void;
}

type State = 'handshake' | 'authenticate' | 'raw-token' | 'complete' | 'failed';

/** What handle() returns: a response, or 'pass' to give the frame to the broker's handler. */
export type SaslHandled = ResponseChunk[] | 'pass' | Promise<ResponseChunk[] | 'pass'>;

interface Mechanism {
  step(token: Buffer): Promise<Buffer>;
  readonly done: boolean;
  readonly user: string | null;
}

export class SaslServerSession {
  private state: State = 'handshake';
  private mechanismName: SaslMechanism | null = null;
  private mechanism: Mechanism | null = null;
  private principal: KafkaPrincipal | null = null;
  /** Whether the current exchange re-authenticates an authenticated connection. */
  private reauthenticating = false;
  /** When the session ends (Date.now() ms); Infinity without connections.max.reauth.ms. */
  private expiresAt = Infinity;

  constructor(
    private readonly ctx: SaslServerContext,
    private readonly conn: AuthenticatingConnection,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the connection has authenticated (requests beyond SASL may pass). */
  get authenticated(): boolean {
    return this.principal !== null;
  }

  /** The largest frame accepted now: sasl.server.max.receive.size until authenticated. */
  maxFrameBytes(otherwise: number): number {
    return this.principal === null ? Math.min(otherwise, this.ctx.settings.maxReceiveSize) : otherwise;
  }

  handle(frame: Buffer): SaslHandled {
    if (this.state === 'failed') throw new StrataError('SASL_AUTHENTICATION_FAILED', 'request after a failed authentication');
    if (this.state === 'raw-token') return this.rawToken(frame);
    const r = new Reader(frame);
    const header = readRequestHeader(r);
    const { apiKey, apiVersion, correlationId } = header;
    if (apiKey === ApiKey.SaslHandshake || apiKey === ApiKey.SaslAuthenticate) {
      const meta = API_MESSAGES.get(apiKey)!;
      if (apiVersion < meta.minVersion || apiVersion > meta.maxVersion) {
        throw new StrataError('SASL_AUTHENTICATION_FAILED', `unsupported version ${apiVersion} of ${meta.name}`);
      }
      const req = meta.readRequest(r, apiVersion);
      if (apiKey === ApiKey.SaslHandshake) return this.handshake(req as SaslHandshakeRequest, apiVersion, correlationId);
      return this.authenticate(req as SaslAuthenticateRequest, apiVersion, correlationId);
    }
    if (this.principal !== null) {
      if (this.now() >= this.expiresAt) {
        throw new StrataError(
          'SASL_AUTHENTICATION_FAILED',
          `the SASL session of ${this.principal.name} expired (connections.max.reauth.ms=${this.ctx.settings.connectionsMaxReauthMs}) and the client did not re-authenticate`,
        );
      }
      return 'pass';
    }
    if (apiKey === ApiKey.ApiVersions) return 'pass';
    const name = API_MESSAGES.get(apiKey)?.name ?? `api key ${apiKey}`;
    throw new StrataError('SASL_AUTHENTICATION_FAILED', `unexpected Kafka request of type ${name} during SASL handshake (the client sent it before authenticating)`);
  }

  private handshake(req: SaslHandshakeRequest, version: number, correlationId: number): ResponseChunk[] {
    const enabled = this.ctx.settings.enabledMechanisms;
    const answer = (errorCode: number) => encodeResponse(ApiKey.SaslHandshake, version, correlationId, { errorCode, mechanisms: [...enabled] });
    if (this.state !== 'handshake' && this.state !== 'complete') {
      this.state = 'failed';
      this.conn.closeAfter(0);
      return answer(ErrorCode.ILLEGAL_SASL_STATE);
    }
    const reauth = this.state === 'complete';
    if (reauth && version === 0) throw new StrataError('SASL_AUTHENTICATION_FAILED', 're-authentication needs SaslHandshake v1 or later');
    const mechanism = req.mechanism;
    if (!(enabled as readonly string[]).includes(mechanism) || (reauth && mechanism !== this.mechanismName)) {
      this.ctx.logger.info(
        `${this.conn.remote} on ${this.conn.listenerName}: SASL mechanism ${JSON.stringify(mechanism)} ` +
          (reauth ? `differs from the one it authenticated with (${this.mechanismName})` : `is not enabled (sasl.enabled.mechanisms=${enabled.join(',')})`) +
          '; answered UNSUPPORTED_SASL_MECHANISM and closing the connection',
      );
      this.state = 'failed';
      this.conn.closeAfter(0);
      return answer(ErrorCode.UNSUPPORTED_SASL_MECHANISM);
    }
    this.mechanismName = mechanism as SaslMechanism;
    this.mechanism = this.newMechanism(this.mechanismName);
    this.reauthenticating = reauth;
    this.state = version === 0 ? 'raw-token' : 'authenticate';
    return answer(ErrorCode.NONE);
  }

  private async authenticate(req: SaslAuthenticateRequest, version: number, correlationId: number): Promise<ResponseChunk[]> {
    const respond = (errorCode: number, errorMessage: string | null, authBytes: Buffer, sessionLifetimeMs = 0n) =>
      encodeResponse(ApiKey.SaslAuthenticate, version, correlationId, { errorCode, errorMessage, authBytes, sessionLifetimeMs });
    if (this.state !== 'authenticate') {
      this.state = 'failed';
      this.conn.closeAfter(0);
      return respond(ErrorCode.ILLEGAL_SASL_STATE, `Unexpected SaslAuthenticate request: ${this.principal === null ? 'no SaslHandshake came first' : 'the connection is authenticated'}`, Buffer.alloc(0));
    }
    try {
      const out = await this.step(req.authBytes);
      if ((this.state as State) !== 'complete') return respond(ErrorCode.NONE, null, out);
      const lifetime = this.ctx.settings.connectionsMaxReauthMs;
      return respond(ErrorCode.NONE, null, out, version >= 1 && lifetime > 0 ? BigInt(lifetime) : 0n);
    } catch (e) {
      if (!isStrataError(e, 'SASL_AUTHENTICATION_FAILED')) throw e;
      return respond(ErrorCode.SASL_AUTHENTICATION_FAILED, this.failureMessage(), Buffer.alloc(0));
    }
  }

  /** A v0 exchange: the frame is a bare token, and so is the answer. */
  private async rawToken(frame: Buffer): Promise<ResponseChunk[]> {
    try {
      const out = await this.step(frame);
      const size = Buffer.alloc(4);
      size.writeInt32BE(out.length);
      return [size, out];
    } catch (e) {
      if (!isStrataError(e, 'SASL_AUTHENTICATION_FAILED')) throw e;
      // v0 has no way to carry an error: the connection is closed (after the delay).
      return [];
    }
  }

  /** One token of the exchange; completes the session when the mechanism is done. Failures close the connection after the delay. */
  private async step(token: Buffer): Promise<Buffer> {
    const m = this.mechanism!;
    let out: Buffer;
    try {
      out = await m.step(token);
    } catch (e) {
      this.fail(e);
      throw e;
    }
    if (m.done) {
      const user = m.user!;
      if (this.reauthenticating && this.principal !== null && this.principal.name !== user) {
        const e = new StrataError('SASL_AUTHENTICATION_FAILED', `re-authentication as ${user} on a connection of ${this.principal.name} (the principal may not change)`);
        this.fail(e);
        throw e;
      }
      this.principal = userPrincipal(user);
      this.conn.setPrincipal(this.principal);
      const lifetime = this.ctx.settings.connectionsMaxReauthMs;
      this.expiresAt = lifetime > 0 ? this.now() + lifetime : Infinity;
      this.state = 'complete';
      this.mechanism = null;
      this.ctx.onOutcome?.(this.mechanismName!, 'success');
      this.ctx.logger.debug(`${this.conn.remote} on ${this.conn.listenerName}: authenticated as User:${user} with ${this.mechanismName}${this.reauthenticating ? ' (re-authentication)' : ''}`);
    }
    return out;
  }

  private fail(e: unknown): void {
    this.state = 'failed';
    this.ctx.onOutcome?.(this.mechanismName ?? 'unknown', 'failure');
    // The reason goes to the broker's log only: the client gets Kafka's generic message.
    this.ctx.logger.info(`${this.conn.remote} on ${this.conn.listenerName}: SASL/${this.mechanismName} authentication failed: ${(e as Error).message}`);
    this.conn.closeAfter(this.ctx.settings.failedAuthenticationDelayMs);
  }

  private failureMessage(): string {
    return `Authentication failed during authentication due to invalid credentials with SASL mechanism ${this.mechanismName}`;
  }

  private newMechanism(name: SaslMechanism): Mechanism {
    if (isScramMechanism(name)) return new ScramServer(name, (user) => this.ctx.scramCredential(user, name));
    return new PlainServer(this.ctx);
  }
}

/**
 * SASL/PLAIN's one step: the user and password are checked against the listener's JAAS users
 * (user_NAME="password"), else against the user's SCRAM credential in the store (the password
 * salted with the stored salt must give the stored key), so users created with `strata configs`
 * can use PLAIN too.
 */
class PlainServer implements Mechanism {
  private userName: string | null = null;

  constructor(private readonly ctx: SaslServerContext) {}

  get done(): boolean {
    return this.userName !== null;
  }

  get user(): string | null {
    return this.userName;
  }

  async step(token: Buffer): Promise<Buffer> {
    if (this.userName !== null) throw new StrataError('SASL_AUTHENTICATION_FAILED', 'unexpected PLAIN message after the exchange completed');
    const { user, password } = parsePlain(token);
    const expected = this.ctx.plainUsers.get(user);
    let ok = false;
    if (expected !== undefined) {
      ok = passwordMatches(password, expected);
    } else {
      let found = false;
      for (const m of [...SCRAM_MECHANISMS].reverse()) {
        const c = await this.ctx.scramCredential(user, m);
        if (c === null) continue;
        const salted = await saltedPasswordAsync(m, password, c.salt, c.iterations);
        ok = crypto.timingSafeEqual(scramCredentialFromSalted(m, c.salt, c.iterations, salted).storedKey, c.storedKey);
        found = true;
        break;
      }
      // An unknown user costs the same PBKDF2 as a known one: the answer's timing does not tell which users exist.
      if (!found) await saltedPasswordAsync('SCRAM-SHA-512', password, UNKNOWN_USER_SALT, MIN_ITERATIONS);
    }
    if (!ok) throw new StrataError('SASL_AUTHENTICATION_FAILED', `invalid credentials for user ${JSON.stringify(user)}`);
    this.userName = user;
    return Buffer.alloc(0);
  }
}

const UNKNOWN_USER_SALT = crypto.randomBytes(32);
