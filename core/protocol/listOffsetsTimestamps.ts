/**
 * ListOffsets' special timestamps (Kafka's ListOffsetsRequest constants), shared by the
 * broker's handler, Strata's client and the tests.
 */
/** The log end offset (the high watermark on a single node). */
export const LATEST_TIMESTAMP = -1n;
/** The log start offset, across both tiers for tiered topics. */
export const EARLIEST_TIMESTAMP = -2n;
/** The offset of the record with the largest timestamp (KIP-734, ListOffsets v7). */
export const MAX_TIMESTAMP = -3n;
/** The first offset still on local disk (KIP-405, ListOffsets v8). */
export const EARLIEST_LOCAL_TIMESTAMP = -4n;
/** The highest offset in the object store (KIP-1005, ListOffsets v9). */
export const LATEST_TIERED_TIMESTAMP = -5n;
