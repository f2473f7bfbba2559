import * as crypto from 'node:crypto';
import { StrataError } from '../common/errors';
import type { StrataClient } from '../client/client';
import { throwIfError } from '../client/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { ApiKey } from '../protocol/generated/index';
import type { AlterUserScramCredentialsResponse } from '../protocol/generated/AlterUserScramCredentialsResponse';
import type { DescribeUserScramCredentialsResponse } from '../protocol/generated/DescribeUserScramCredentialsResponse';
import { MIN_ITERATIONS, isScramMechanism, saltedPassword, type ScramMechanism } from '../security/scram';
import { SCRAM_MECHANISM_IDS, scramMechanismId } from '../security/scramCredentialStore';
import { type CliIO, writeOut } from './io';

/**
 * `strata configs --entity-type users`: SCRAM credentials as kafka-configs.sh manages them
 * (KIP-554). The password is salted here (a random 32-byte salt, `iterations` default 4096, as
 * kafka-configs does) and only the salted form is sent:
 *
 *   --alter --add-config 'SCRAM-SHA-512=[iterations=8192,password=secret],SCRAM-SHA-256=[password=secret]'
 *   --alter --delete-config SCRAM-SHA-512
 *   --describe                 SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096, ...
 *
 * User quotas (producer_byte_rate, ...) are clientQuotaConfigs.ts's, which calls these.
 */
export class UserConfigError extends StrataError {
  constructor(message: string) {
    super('INPUT_INVALID', message);
  }
}

/** --add-config's SCRAM entries: mechanism → { iterations, password }. */
export function scramUpserts(toAdd: ReadonlyMap<string, string>): Array<{ mechanism: ScramMechanism; iterations: number; password: string }> {
  const out: Array<{ mechanism: ScramMechanism; iterations: number; password: string }> = [];
  for (const [key, value] of toAdd) {
    if (!isScramMechanism(key)) throw new UserConfigError(`${key} is not a SCRAM credential config: only SCRAM-SHA-256 and SCRAM-SHA-512 credentials can be set with these`);
    let iterations = MIN_ITERATIONS;
    let password: string | undefined;
    for (const part of value.split(',')) {
      const eq = part.indexOf('=');
      const k = part.slice(0, eq).trim();
      const v = part.slice(eq + 1);
      if (eq < 0) throw new UserConfigError(`Invalid ${key} value: expected [iterations=N,password=P] or [password=P]`);
      if (k === 'iterations') {
        iterations = Number(v);
        if (!Number.isInteger(iterations)) throw new UserConfigError(`Invalid iterations for ${key}: ${v}`);
      } else if (k === 'password') {
        password = v;
      } else {
        throw new UserConfigError(`Invalid ${key} value: unknown attribute ${k} (iterations and password are allowed)`);
      }
    }
    if (password === undefined || password === '') throw new UserConfigError(`Invalid ${key} value: a password is required`);
    out.push({ mechanism: key, iterations, password });
  }
  return out;
}

export async function alterUserScram(client: StrataClient, user: string, toAdd: ReadonlyMap<string, string>, toDelete: readonly string[], io: CliIO): Promise<void> {
  for (const k of toDelete) if (!isScramMechanism(k)) throw new UserConfigError(`Invalid config(s): ${k}`);
  const upsertions = scramUpserts(toAdd).map((u) => {
    const salt = crypto.randomBytes(32);
    return { name: user, mechanism: scramMechanismId(u.mechanism), iterations: u.iterations, salt, saltedPassword: saltedPassword(u.mechanism, u.password, salt, Math.max(1, u.iterations)) };
  });
  const deletions = toDelete.map((m) => ({ name: user, mechanism: scramMechanismId(m as ScramMechanism) }));
  const conn = await client.brokerConnection();
  const res = await conn.send<AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, { deletions, upsertions });
  for (const r of res.results) {
    throwIfError(r.errorCode, { api: 'AlterUserScramCredentials', resource: `user ${r.user}`, errorMessage: r.errorMessage });
  }
  await writeOut(io.stdout, `Completed updating config for user ${user}.\n`);
}

export async function describeUserScram(client: StrataClient, user: string | undefined, io: CliIO): Promise<void> {
  const conn = await client.brokerConnection();
  const res = await conn.send<DescribeUserScramCredentialsResponse>(ApiKey.DescribeUserScramCredentials, { users: user === undefined ? null : [{ name: user }] });
  throwIfError(res.errorCode, { api: 'DescribeUserScramCredentials', errorMessage: res.errorMessage });
  for (const r of res.results) {
    if (r.errorCode === ErrorCode.RESOURCE_NOT_FOUND) continue; // no credentials: kafka-configs prints nothing
    throwIfError(r.errorCode, { api: 'DescribeUserScramCredentials', resource: `user ${r.user}`, errorMessage: r.errorMessage });
    const list = r.credentialInfos.map((c) => `${SCRAM_MECHANISM_IDS.get(c.mechanism) ?? `UNKNOWN(${c.mechanism})`}=iterations=${c.iterations}`).join(', ');
    await writeOut(io.stdout, `SCRAM credential configs for user-principal '${r.user}' are ${list}\n`);
  }
}
