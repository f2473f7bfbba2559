import { ErrorCode } from '../../protocol/errorCodes';

/**
 * KIP-588 added PRODUCER_FENCED; request versions older than the one that introduced it get
 * INVALID_PRODUCER_EPOCH instead (Kafka's KafkaApis does this conversion per API): InitProducerId
 * v4, AddPartitionsToTxn / AddOffsetsToTxn / EndTxn v2.
 */
export function producerFencedFor(errorCode: number, version: number, firstVersionWithProducerFenced: number): number {
  return errorCode === ErrorCode.PRODUCER_FENCED && version < firstVersionWithProducerFenced ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode;
}
