import { isStrataError } from '../common/errors';
import type { KvValue } from '../meta/json';
import type { VersionedKv } from '../meta/versionedKv';
import { SCRAM_MECHANISMS, type ScramCredential, type ScramMechanism } from './scram';

/** The metadata store namespace of SCRAM credentials (`ns/scram-credentials/<user>/<mechanism>`). */
export const SCRAM_CREDENTIALS_NAMESPACE = 'scram-credentials';

/** Kafka's ScramMechanism type ids on the wire (AlterUserScramCredentials, DescribeUserScramCredentials). */
export const SCRAM_MECHANISM_IDS: ReadonlyMap<number, ScramMechanism> = new Map([
  [1, 'SCRAM-SHA-256'],
  [2, 'SCRAM-SHA-512'],
]);

export function scramMechanismId(m: ScramMechanism): number {
  return m === 'SCRAM-SHA-256' ? 1 : 2;
}

/**
 * SCRAM credentials in the metadata store, one item per user and mechanism (so every change is
 * one single-key write, as everything in the store): salt, iterations, StoredKey and ServerKey,
 * never a password. The user name is URI-encoded in the key (names may hold '/').
 */
export class ScramCredentialStore {
  constructor(private readonly kv: VersionedKv) {}

  async get(user: string, mechanism: ScramMechanism): Promise<ScramCredential | null> {
    const e = await this.kv.get(keyOf(user, mechanism));
    return e === null ? null : decode(mechanism, e.value);
  }

  /** Every user's mechanisms and iterations, by user (sorted). */
  async describeAll(): Promise<Map<string, CredentialInfo[]>> {
    const out = new Map<string, CredentialInfo[]>();
    for (const { user, info } of infosOf(await this.kv.list(''))) out.set(user, [...(out.get(user) ?? []), info]);
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** One user's mechanisms and iterations; empty when the user has none. */
  async describe(user: string): Promise<CredentialInfo[]> {
    return infosOf(await this.kv.list(`${encodeURIComponent(user)}/`)).map((e) => e.info);
  }

  /** Creates or replaces the user's credential for its mechanism. */
  async put(user: string, c: ScramCredential): Promise<void> {
    const key = keyOf(user, c.mechanism);
    const value: KvValue = { salt: c.salt.toString('base64'), iterations: c.iterations, storedKey: c.storedKey.toString('base64'), serverKey: c.serverKey.toString('base64') };
    for (let attempt = 0; ; attempt++) {
      const cur = await this.kv.get(key);
      try {
        await this.kv.put(key, value, cur?.version ?? null);
        return;
      } catch (e) {
        // Another writer changed it meanwhile: the last write wins, as Kafka's does.
        if (attempt < 5 && (isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS'))) continue;
        throw e;
      }
    }
  }

  /** Removes the user's credential for `mechanism`; false when there was none. */
  async delete(user: string, mechanism: ScramMechanism): Promise<boolean> {
    return this.kv.delete(keyOf(user, mechanism));
  }
}

/** A credential as described: its mechanism and iterations (never its keys). */
export interface CredentialInfo {
  mechanism: ScramMechanism;
  iterations: number;
}

/** The user and credential info of each entry that is one (keys are `<user>/<mechanism>`). */
function infosOf(entries: readonly { key: string; value: KvValue }[]): Array<{ user: string; info: CredentialInfo }> {
  const out: Array<{ user: string; info: CredentialInfo }> = [];
  for (const e of entries) {
    const slash = e.key.lastIndexOf('/');
    const mechanism = e.key.slice(slash + 1) as ScramMechanism;
    if (!SCRAM_MECHANISMS.includes(mechanism)) continue;
    out.push({ user: decodeURIComponent(e.key.slice(0, slash)), info: { mechanism, iterations: decode(mechanism, e.value).iterations } });
  }
  return out;
}

function keyOf(user: string, mechanism: ScramMechanism): string {
  return `${encodeURIComponent(user)}/${mechanism}`;
}

function decode(mechanism: ScramMechanism, v: KvValue): ScramCredential {
  const o = v as { salt: string; iterations: number; storedKey: string; serverKey: string };
  return { mechanism, salt: Buffer.from(o.salt, 'base64'), iterations: o.iterations, storedKey: Buffer.from(o.storedKey, 'base64'), serverKey: Buffer.from(o.serverKey, 'base64') };
}
