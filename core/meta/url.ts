import * as path from 'node:path';
import { StrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import { openEmbeddedStore } from './embeddedStore';
import { KvMetadataStore } from './kvMetadataStore';
import type { MetadataStore } from './metadataStore';

/**
 * Picks the metadata store adapter from one URL, so an operator sees one knob (`metadata`):
 *
 *   embedded:             <dataDir>/meta (the default)
 *   embedded:PATH         PATH, relative to the working directory (embedded://PATH also works).
 *                         The store is PATH/metadata.sqlite (embeddedStore.ts, sqliteKv.ts), which
 *                         several brokers on one host may share; a directory in the older journal
 *                         format is migrated to it at its first open.
 *   dynamodb://PREFIX     the DynamoDB table PREFIX-metadata (dynamoTable.ts), in the region and at
 *                         the endpoint the standard AWS configuration names (awsConfig.ts). The
 *                         table must exist: opening checks it (DescribeTable) and fails with the
 *                         fix (`strata aws-init`) rather than creating it.
 */
export interface OpenMetadataStoreOptions {
  dataDir: string;
  /**
   * The broker's node.id: on the embedded store, the store then holds `<dir>/node-<id>.lock` until
   * it is closed, refusing a second process with that node.id (BROKER_ALREADY_REGISTERED).
   */
  nodeId?: number;
  /** Where the embedded store reports a migration from the journal format. */
  logger?: Logger;
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
  if (dir !== null) {
    return new KvMetadataStore(await openEmbeddedStore(dir, { nodeId: opts.nodeId, logger: opts.logger }));
  }
  if (url.startsWith('dynamodb://')) {
    // Loaded on demand: the AWS SDK costs ~100 ms at startup, which embedded users need not pay.
    const { parseDynamoUrl } = await import('./dynamoTable');
    const { DynamoKv } = await import('./dynamoKv');
    return new KvMetadataStore(await DynamoKv.open(parseDynamoUrl(url).prefix));
  }
  throw new StrataError('CONFIG_INVALID', `Unsupported metadata store URL '${url}'; ${ACCEPTED}.`);
}
