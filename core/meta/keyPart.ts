import { createHash } from 'node:crypto';

/** Longest percent-encoded id kept readable in a key; metadata keys are at most 1024 bytes. */
const MAX_READABLE = 512;

/**
 * A user-chosen id (group id, transactional id) as one component of a metadata key: percent-
 * encoded, so '/' cannot be confused with the key's separator, or `#<sha-256 hex>` when that would
 * be too long ('#' never survives percent-encoding, so the two forms cannot collide). Items keep
 * the id itself in their value, so nothing ever parses this back.
 */
export function readableKeyPart(id: string): string {
  const encoded = encodeURIComponent(id);
  return encoded.length > MAX_READABLE ? `#${createHash('sha256').update(id, 'utf8').digest('hex')}` : encoded;
}
