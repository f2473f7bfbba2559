import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { metadataStoreContract } from './metadataStore.contract';
import { versionedKvContract } from './versionedKv.contract';

/** Runs the reusable contracts against the embedded adapter (a real directory per test). */
function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'strata-meta-'));
}

versionedKvContract('EmbeddedKv', async () => {
  const dir = tempDir();
  return {
    open: () => EmbeddedKv.open(dir),
    destroy: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

// Compaction is forced every few writes, so the contract also runs across snapshots.
versionedKvContract('EmbeddedKv compacting every 3 writes', async () => {
  const dir = tempDir();
  return {
    open: () => EmbeddedKv.open(dir, { compactAfterEntries: 3 }),
    destroy: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

metadataStoreContract('KvMetadataStore over EmbeddedKv', async () => {
  const dir = tempDir();
  return {
    open: async () => new KvMetadataStore(await EmbeddedKv.open(dir, { compactAfterEntries: 7 })),
    destroy: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});
