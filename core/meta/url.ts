import * as path from 'node:path';
import { StrataError } from '../common/errors';
import { EmbeddedKv, type EmbeddedKvOptions } from './embeddedKv';
import { KvMetadataStore } from './kvMetadataStore';
import type { MetadataStore } from './metadataStore';

/**
 * Picks the metadata store adapter from one URL, so an operator sees one knob (`metadata`):
 *
 *   embedded:             <dataDir>/meta (the default)
 *   embedded:PATH         PATH, relative to the working directory (embedded://PATH also works)
 *   dynamodb://PREFIX     the DynamoDB table PREFIX-metadata (dynamoTable.ts), in the region and at
 *                         the endpoint the standard AWS configuration names (awsConfig.ts). The
 *                         table must exist: opening checks it (DescribeTable) and fails with the
 *                         fix (`strata aws-init`) rather than creating it.
 */
export interface OpenMetadataStoreOptions {
  dataDir: string;
  /** Passed to the embedded adapter (tests use small compaction thresholds). */
  embedded?: EmbeddedKvOptions;
}

const ACCEPTED = "accepted forms: 'embedded:' (<data dir>/meta), 'embedded:PATH', 'dynamodb://TABLE_PREFIX'";

/** Where an embedded: URL puts its files, or null for any other URL. */
export function embeddedMetadataDir(url: string, dataDir: string): string | null {
  if (!url.startsWith('embedded:')) return null;
  let p = url.slice('embedded:'.length);
  if (p.startsWith('//')) p = p.slice(2);
  return p === '' ? path.resolve(dataDir, 'meta') : path.resolve(p);
}

export async function openMetadataStore(url: string, opts: OpenMetadataStoreOptions): Promise<MetadataStore> {
  const dir = embeddedMetadataDir(url, opts.dataDir);
  if (dir !== null) return new KvMetadataStore(await EmbeddedKv.open(dir, opts.embedded));
  if (url.startsWith('dynamodb://')) {
    // Loaded on demand: the AWS SDK costs ~100 ms at startup, which embedded users need not pay.
    const { parseDynamoUrl } = await import('./dynamoTable');
    const { DynamoKv } = await import('./dynamoKv');
    return new KvMetadataStore(await DynamoKv.open(parseDynamoUrl(url).prefix));
  }
  throw new StrataError('CONFIG_INVALID', `Unsupported metadata store URL '${url}'; ${ACCEPTED}.`);
}
