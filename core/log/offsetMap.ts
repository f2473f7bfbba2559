import * as crypto from 'node:crypto';

/**
 * The cleaner's key → latest offset map (Kafka's SkimpyOffsetMap): a fixed-size open-addressing
 * table of 128-bit key hashes and offsets, so its memory is set up front (24 bytes a slot) and
 * never depends on key sizes a producer chose.
 *
 * Keys are hashed with SHA-256 cut to 128 bits (Kafka uses MD5; in Node both cost the same, and
 * SHA-256 has no known collision attack, so a producer cannot craft a key that shadows another
 * key and gets its records cleaned away). A different key with an equal hash is the one way the
 * map can be wrong; at 2^-128 per pair it is not a practical concern, as in Kafka.
 *
 * Offsets are stored relative to `baseOffset` as doubles: exact for spans below 2^53 offsets, which
 * a cleaning round (one log's dirty section) cannot reach; callers check `fits`.
 */
export const OFFSET_MAP_BYTES_PER_SLOT = 24;

const EMPTY = -1;

const hashOnce: (data: Uint8Array) => Buffer =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => (crypto as unknown as { hash(alg: string, d: Uint8Array, enc: 'buffer'): Buffer }).hash('sha256', data, 'buffer')
    : (data) => crypto.createHash('sha256').update(data).digest();

export class OffsetMap {
  readonly slots: number;
  private readonly hashes: Uint32Array;
  private readonly offsets: Float64Array;
  private entries = 0;
  /** The largest offset put, relative to baseOffset; -1 when none. */
  private latest = -1;
  // The last hash computed, kept so put/get after hashKey do not allocate.
  private h0 = 0;
  private h1 = 0;
  private h2 = 0;
  private h3 = 0;

  constructor(
    slots: number,
    readonly baseOffset: bigint,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`offset map needs at least one slot, got ${slots}`);
    this.slots = slots;
    this.hashes = new Uint32Array(slots * 4);
    this.offsets = new Float64Array(slots).fill(EMPTY);
  }

  get size(): number {
    return this.entries;
  }

  /** Whether relative offsets up to `offset` are exact. */
  fits(offset: bigint): boolean {
    return offset - this.baseOffset < BigInt(Number.MAX_SAFE_INTEGER);
  }

  /** Records key → offset (relative to baseOffset, >= 0), replacing an earlier offset of the key. */
  put(key: Uint8Array, relOffset: number): void {
    this.hashKey(key);
    const slot = this.find();
    if (slot < 0) throw new RangeError('offset map is full');
    if (this.offsets[slot] === EMPTY) {
      this.entries++;
      const h = slot * 4;
      this.hashes[h] = this.h0;
      this.hashes[h + 1] = this.h1;
      this.hashes[h + 2] = this.h2;
      this.hashes[h + 3] = this.h3;
    }
    this.offsets[slot] = relOffset;
    if (relOffset > this.latest) this.latest = relOffset;
  }

  /** The latest offset of `key` relative to baseOffset, or -Infinity when the map does not have it. */
  get(key: Uint8Array): number {
    this.hashKey(key);
    const slot = this.find();
    const v = slot < 0 ? EMPTY : this.offsets[slot];
    return v === EMPTY ? -Infinity : v;
  }

  /** Largest offset seen (relative), -1 when none; raised by `updateLatest` for offset gaps. */
  get latestOffset(): number {
    return this.latest;
  }

  updateLatest(relOffset: number): void {
    if (relOffset > this.latest) this.latest = relOffset;
  }

  private hashKey(key: Uint8Array): void {
    const d = hashOnce(key);
    this.h0 = d.readUInt32LE(0);
    this.h1 = d.readUInt32LE(4);
    this.h2 = d.readUInt32LE(8);
    this.h3 = d.readUInt32LE(12);
  }

  /**
   * The slot holding the current hash, or the empty slot where it would go (linear probing); -1
   * when neither exists (a full table: callers keep the load below 1, see the cleaner).
   */
  private find(): number {
    let slot = this.h0 % this.slots;
    for (let probes = 0; probes < this.slots; probes++) {
      if (this.offsets[slot] === EMPTY) return slot;
      const h = slot * 4;
      if (this.hashes[h] === this.h0 && this.hashes[h + 1] === this.h1 && this.hashes[h + 2] === this.h2 && this.hashes[h + 3] === this.h3) {
        return slot;
      }
      if (++slot === this.slots) slot = 0;
    }
    return -1;
  }
}
