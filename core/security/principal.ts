/**
 * Kafka's principals: who a connection is, as ACLs and quotas name it (`User:alice`).
 * A connection on a PLAINTEXT listener, or one not yet authenticated, is User:ANONYMOUS, as in
 * Kafka; SASL sets the authenticated user name, an SSL listener the certificate's mapped name.
 */
export interface KafkaPrincipal {
  /** Always 'User' for principals Strata builds (Kafka's KafkaPrincipal.USER_TYPE). */
  readonly principalType: string;
  readonly name: string;
}

export const ANONYMOUS: KafkaPrincipal = Object.freeze({ principalType: 'User', name: 'ANONYMOUS' });

export function userPrincipal(name: string): KafkaPrincipal {
  return { principalType: 'User', name };
}

/** 'User:alice', Kafka's KafkaPrincipal.toString. */
export function principalToString(p: KafkaPrincipal): string {
  return `${p.principalType}:${p.name}`;
}

/**
 * Parses 'User:alice' (the type up to the first ':'; the name may hold further colons), as
 * Kafka's SecurityUtils.parseKafkaPrincipal does. Throws on a string without a ':' or with an
 * empty type.
 */
export function parsePrincipal(s: string): KafkaPrincipal {
  const colon = s.indexOf(':');
  if (colon <= 0) throw new Error(`'${s}' is not a principal: expected TYPE:NAME, e.g. User:alice`);
  return { principalType: s.slice(0, colon), name: s.slice(colon + 1) };
}

/** Kafka's security protocols (listener.security.protocol.map's values). */
export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
