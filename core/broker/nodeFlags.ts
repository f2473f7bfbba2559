/**
 * The flags node runs a broker process with: `node ${BROKER_NODE_FLAGS} dist/core/cli/main.js
 * broker …`. Everything that starts a broker uses them (`strata cluster`, `npm start`, the
 * Dockerfile, the test and benchmark helpers); the JVM options Kafka's start scripts pass play
 * the same part.
 *
 * --initial-old-space-size=128 (MB): the old generation's allocation limit starts at 128 MB and
 * does not drop below it. V8 sizes that limit from the live heap, about 14 MB for a broker, so
 * the limit sat near 26 MB. V8 also counts the Buffers allocated since the last mark-compact
 * against it, and a broker allocates many times its traffic in Buffers (socket reads, frames,
 * responses). Under 20 MB/s of acks=all produce on a 3-broker cluster, each broker then ran a
 * full mark-compact every ~200 ms ("Start (task)" with the old generation far below its limit),
 * and their main-thread marking steps of up to 15 ms made most of acks=all's tail. With the
 * flag, a broker does one or two in 45 s: p99 went from 23–30 ms to 5–8 ms (bench/README.md).
 * It costs up to ~128 MB of heap before the first full collection.
 *
 * V8 reads it when it sets the heap up, so it must be on node's command line: setting it later
 * (v8.setFlagsFromString) does nothing, and NODE_OPTIONS refuses it.
 */
export const BROKER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];
