import { isStrataError } from '../common/errors';
import type { VersionedKv } from '../meta/versionedKv';

/**
 * One item every broker polls to learn that topics or partition states changed, so that a
 * broker reads the (possibly many) partition records only when something changed. Whoever
 * changes cluster metadata writes its records first, then bumps this item; readers that see a
 * new version reload everything. A bump that loses its conditional write to another one needs no
 * retry: the winner's bump came after this writer's records were written, so it announces them
 * too. A writer that dies between its records and its bump is covered by the periodic full
 * reload.
 *
 * Cost on DynamoDB: one eventually consistent GetItem per broker per poll (0.5 read unit).
 */
export const CLUSTER_NAMESPACE = 'cluster';
const CHANGES_KEY = 'changes';

export class ClusterChanges {
  constructor(private readonly kv: VersionedKv) {}

  /** The item's version now (0 when never bumped). */
  async version(): Promise<number> {
    return (await this.kv.get(CHANGES_KEY))?.version ?? 0;
  }

  /** Announces a change written before this call. */
  async bump(): Promise<void> {
    const cur = await this.kv.get(CHANGES_KEY);
    try {
      await this.kv.put(CHANGES_KEY, { at: Date.now() }, cur?.version ?? null);
    } catch (e) {
      if (isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS')) return;
      throw e;
    }
  }
}
