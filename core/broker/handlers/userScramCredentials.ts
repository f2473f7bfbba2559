/**
 * DescribeUserScramCredentials (api key 50) and AlterUserScramCredentials (51), KIP-554: the
 * SCRAM credentials brokers will check SASL/SCRAM logins against, kept in the metadata store
 * (core/security/scramCredentialStore.ts), so every broker sees a change at once. The client
 * sends a salt, an iteration count and the salted password; the broker stores StoredKey and
 * ServerKey derived from it, never a password. Kafka's checks and messages:
 *
 *   unknown mechanism                         UNSUPPORTED_SASL_MECHANISM
 *   empty user, iterations outside 4096..16384,
 *   empty salt, salted password of the wrong size UNACCEPTABLE_CREDENTIAL
 *   a user+mechanism twice in one request      DUPLICATE_RESOURCE
 *   deleting a credential that does not exist  RESOURCE_NOT_FOUND
 *
 * A user with any refused operation gets that error and none of its operations applied; the
 * other users' are. Describe answers RESOURCE_NOT_FOUND for a user without credentials and
 * DUPLICATE_RESOURCE for a user named twice; no users means every user.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { AlterUserScramCredentialsRequest } from '../../protocol/generated/AlterUserScramCredentialsRequest';
import type { AlterUserScramCredentialsResponse, AlterUserScramCredentialsResult } from '../../protocol/generated/AlterUserScramCredentialsResponse';
import type { DescribeUserScramCredentialsRequest } from '../../protocol/generated/DescribeUserScramCredentialsRequest';
import type { DescribeUserScramCredentialsResponse, DescribeUserScramCredentialsResult } from '../../protocol/generated/DescribeUserScramCredentialsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { MAX_ITERATIONS, MIN_ITERATIONS, scramCredentialFromSalted, scramHashBytes, type ScramCredential, type ScramMechanism } from '../../security/scram';
import { SCRAM_MECHANISM_IDS, scramMechanismId, type CredentialInfo } from '../../security/scramCredentialStore';
import type { ApiHandler } from './types';

/** Credential infos as DescribeUserScramCredentials carries them (Kafka's mechanism type ids). */
function wireInfos(creds: readonly CredentialInfo[]): { mechanism: number; iterations: number }[] {
  return creds.map((c) => ({ mechanism: scramMechanismId(c.mechanism), iterations: c.iterations }));
}

export const describeUserScramCredentialsHandler: ApiHandler<DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse> = {
  apiKey: ApiKey.DescribeUserScramCredentials,
  minImplemented: 0,

  async handle(req, ctx) {
    const store = ctx.broker.scramCredentials;
    if (store === undefined) return this.errorResponse(req, ErrorCode.UNKNOWN_SERVER_ERROR, ctx);
    const named = req.users ?? [];
    if (named.length === 0) {
      const all = await store.describeAll();
      return {
        throttleTimeMs: 0,
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        results: [...all].map(([user, creds]) => ({ user, errorCode: ErrorCode.NONE, errorMessage: null, credentialInfos: wireInfos(creds) })),
      };
    }
    const counts = new Map<string, number>();
    for (const u of named) counts.set(u.name, (counts.get(u.name) ?? 0) + 1);
    const results: DescribeUserScramCredentialsResult[] = [];
    for (const [user, n] of counts) {
      if (n > 1) {
        results.push({ user, errorCode: ErrorCode.DUPLICATE_RESOURCE, errorMessage: `Cannot describe SCRAM credentials for the same user twice in a single request: ${user}`, credentialInfos: [] });
        continue;
      }
      const creds = await store.describe(user);
      if (creds.length === 0) results.push({ user, errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: `Attempt to describe a user credential that does not exist: ${user}`, credentialInfos: [] });
      else results.push({ user, errorCode: ErrorCode.NONE, errorMessage: null, credentialInfos: wireInfos(creds) });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, results };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, errorMessage: null, results: [] };
  },
};

type Op = { kind: 'delete'; mechanism: ScramMechanism } | { kind: 'upsert'; credential: ScramCredential };

export const alterUserScramCredentialsHandler: ApiHandler<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse> = {
  apiKey: ApiKey.AlterUserScramCredentials,
  minImplemented: 0,

  async handle(req, ctx) {
    const store = ctx.broker.scramCredentials;
    if (store === undefined) return this.errorResponse(req, ErrorCode.UNKNOWN_SERVER_ERROR, ctx);
    const users = new Map<string, { ops: Op[]; error: { code: number; message: string } | null; seen: Set<number> }>();
    const entry = (name: string) => {
      let e = users.get(name);
      if (e === undefined) users.set(name, (e = { ops: [], error: null, seen: new Set() }));
      return e;
    };
    const refuse = (e: ReturnType<typeof entry>, code: number, message: string) => {
      e.error ??= { code, message };
    };
    const check = (name: string, mechanismId: number): { e: ReturnType<typeof entry>; mechanism: ScramMechanism | null } => {
      const e = entry(name);
      const mechanism = SCRAM_MECHANISM_IDS.get(mechanismId) ?? null;
      if (name === '') refuse(e, ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Username must not be empty');
      if (mechanism === null) refuse(e, ErrorCode.UNSUPPORTED_SASL_MECHANISM, 'Unknown SCRAM mechanism');
      if (e.seen.has(mechanismId)) refuse(e, ErrorCode.DUPLICATE_RESOURCE, 'A user credential cannot be altered twice in the same request');
      e.seen.add(mechanismId);
      return { e, mechanism };
    };
    for (const d of req.deletions) {
      const { e, mechanism } = check(d.name, d.mechanism);
      if (mechanism !== null) e.ops.push({ kind: 'delete', mechanism });
    }
    for (const u of req.upsertions) {
      const { e, mechanism } = check(u.name, u.mechanism);
      if (mechanism === null) continue;
      if (u.iterations < MIN_ITERATIONS) refuse(e, ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Too few iterations');
      else if (u.iterations > MAX_ITERATIONS) refuse(e, ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Too many iterations');
      else if (u.salt.length === 0) refuse(e, ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Salt must not be empty');
      else if (u.saltedPassword.length !== scramHashBytes(mechanism)) refuse(e, ErrorCode.UNACCEPTABLE_CREDENTIAL, `The salted password of ${mechanism} must be ${scramHashBytes(mechanism)} bytes`);
      else e.ops.push({ kind: 'upsert', credential: scramCredentialFromSalted(mechanism, Buffer.from(u.salt), u.iterations, Buffer.from(u.saltedPassword)) });
    }
    const results: AlterUserScramCredentialsResult[] = [];
    for (const [user, e] of users) {
      if (e.error === null) {
        for (const op of e.ops) {
          if (op.kind === 'delete' && (await store.get(user, op.mechanism)) === null) {
            refuse(e, ErrorCode.RESOURCE_NOT_FOUND, 'Attempt to delete a user credential that does not exist');
          }
        }
      }
      if (e.error === null) {
        for (const op of e.ops) {
          if (op.kind === 'delete') await store.delete(user, op.mechanism);
          else await store.put(user, op.credential);
        }
      }
      results.push({ user, errorCode: e.error?.code ?? ErrorCode.NONE, errorMessage: e.error?.message ?? null });
    }
    return { throttleTimeMs: 0, results };
  },

  errorResponse(req, errorCode) {
    const names = [...new Set([...req.deletions, ...req.upsertions].map((x) => x.name))];
    return { throttleTimeMs: 0, results: names.map((user) => ({ user, errorCode, errorMessage: null })) };
  },
};
