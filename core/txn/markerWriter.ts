import { ErrorCode } from '../protocol/errorCodes';
import type { Partition } from '../partition/partition';
import type { TopicPartitionRef, TxnMarkerWriter } from './txnCoordinator';

export interface TxnMarkers {
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  result: 'COMMIT' | 'ABORT';
  partitions: TopicPartitionRef[];
}

/**
 * Writes end-transaction markers to partition logs: the WriteTxnMarkers path (Kafka's
 * ReplicaManager.appendRecords with origin COORDINATOR). The transaction coordinator writes its
 * markers through it, and so does the WriteTxnMarkers handler (an operator aborting a hanging
 * transaction, or another broker's coordinator once there are several), so both meet the same
 * checks in the partition's producer state. Partitions this broker does not have answer
 * UNKNOWN_TOPIC_OR_PARTITION; with several brokers, markers for partitions led elsewhere will be
 * sent there as WriteTxnMarkers requests.
 */
export class MarkerWriter implements TxnMarkerWriter {
  constructor(private readonly partitionOf: (topic: string, partition: number) => Partition | undefined) {}

  writeMarkers(m: TxnMarkers): Promise<{ partition: TopicPartitionRef; errorCode: number }[]> {
    return Promise.resolve(this.writeLocal(m));
  }

  /** Appends one marker to each partition; one error code per partition, in order. */
  writeLocal(m: TxnMarkers): { partition: TopicPartitionRef; errorCode: number }[] {
    return m.partitions.map((tp) => {
      const p = this.partitionOf(tp.topic, tp.partition);
      if (p === undefined) return { partition: tp, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
      const outcome = p.appendEndTxnMarker({ producerId: m.producerId, producerEpoch: m.producerEpoch, coordinatorEpoch: m.coordinatorEpoch, type: m.result });
      return { partition: tp, errorCode: outcome.errorCode };
    });
  }
}
