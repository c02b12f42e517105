import { jetstream, type JsMsg } from '@nats-io/jetstream';
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { ErrorCode, fromPrismaError, TwinxError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/logger.ts';
import { DURABLES, keepConsuming, natsNames, type Consuming, type NatsConnection } from '../../../lib/nats.ts';
import type { IngestResult } from './ingest.ts';

/** Options of the device ingest consumer. */
export interface DeviceIngestOptions {
  nats: NatsConnection;
  /** NATS subject prefix of the deployment. */
  subjectPrefix: string;
  /** The organization whose devices publish on `<prefix>.ingest.<org>`. */
  org: string;
  /**
   * Stores batches together, all or nothing, with the same result as storing each in turn
   * (`ingestBatches`); the messages they came in are acknowledged only after it resolves.
   */
  ingest: (batches: unknown[][]) => Promise<IngestResult>;
  /**
   * Most readings stored in one transaction: messages waiting together (a backlog after an
   * outage) are stored together up to this many (the organization's ingest batch limit).
   */
  maxBatch: number;
  /**
   * Called after messages were stored (e.g. to publish the events they left in the outbox), with
   * when each of them reached the stream: one entry per device message, stored together or alone.
   */
  onStored?: (result: IngestResult, publishedAt: readonly Date[]) => void;
  /** Called after a message was dead-lettered, with its error code. */
  onDeadLettered?: (code: string) => void;
  logger: Logger;
  /**
   * Times a message may fail with an internal error, in this process, before it is moved to the
   * dead-letter subject (a restart counts again). Store outages (`UNAVAILABLE`) are retried without
   * limit and do not count: a message that waited out an outage is not dead-lettered for one error
   * as the store comes back.
   * @default 5
   */
  maxFailures?: number;
  /**
   * How long to wait before trying again to consume while the ingest stream does not exist yet
   * (the network operator creates it when it adds the organization), in ms.
   * @default 2000
   */
  retryMs?: number;
}

/** Why a message was dead-lettered, in its headers. */
export const DEAD_LETTER_HEADERS = { code: 'Twinx-Error-Code', reason: 'Twinx-Error', subject: 'Twinx-Original-Subject', sequence: 'Twinx-Stream-Sequence' };

/**
 * Retry delay after a failure: grows with the delivery count, at most 2 s, so that device
 * batches are stored again within seconds of the store's return.
 */
function retryDelay(deliveries: number): number {
  return Math.min(2000, 250 * 2 ** Math.min(deliveries, 3));
}

/** Longest header value a dead letter carries. */
const MAX_HEADER_VALUE = 1000;

/**
 * A dead letter's headers. NATS headers are lines of text: a value holding CR or LF (a driver's
 * multi-line message) would make publishing throw, so each value is made one line of text here,
 * control characters and the blanks around them becoming one space.
 */
function deadLetterHeaders(values: Record<keyof typeof DEAD_LETTER_HEADERS, string>): MsgHdrs {
  const h = headers();
  for (const [key, name] of Object.entries(DEAD_LETTER_HEADERS) as [keyof typeof DEAD_LETTER_HEADERS, string][]) {
    // eslint-disable-next-line no-control-regex -- control characters are what this removes
    const oneLine = values[key].replace(/\s*[\x00-\x1f\x7f]+\s*/g, ' ').trim();
    h.set(name, oneLine.slice(0, MAX_HEADER_VALUE));
  }
  return h;
}

function readingsOf(message: JsMsg): unknown[] {
  let body: unknown;
  try {
    body = message.json();
  } catch {
    throw new TwinxError(ErrorCode.INVALID_INPUT, 'The message is not JSON.');
  }
  const readings = (body as { readings?: unknown } | null)?.readings;
  if (!Array.isArray(readings)) throw new TwinxError(ErrorCode.INVALID_INPUT, 'Expected a JSON object {"readings": [...]}.');
  return readings;
}

/** A device message whose readings were read, waiting to be stored. */
interface Queued {
  message: JsMsg;
  readings: unknown[];
}

/** Messages taken off the consumer before they are stored (the consumer's `max_ack_pending`). */
const MAX_QUEUED = 256;

/**
 * Consumes device telemetry from JetStream. Each message is one batch
 * (`{"readings": [{"twinId", "metric", "at", "value"}]}`), stored all or nothing, and
 * acknowledged only after it is committed. Messages that arrive together — a backlog after a
 * store or NATS outage — are stored together, up to `maxBatch` readings in one transaction with
 * the same result as one by one, so that catching up costs a transaction per group instead of one
 * per message. A group that cannot be stored is stored again message by message, so that only a
 * message that can never be stored goes to the dead-letter subject, with the reason in its
 * headers, and never blocks the stream. Until the network operator has created the
 * organization's ingest stream, it waits and tries again.
 */
export function startDeviceIngest(options: DeviceIngestOptions): Consuming {
  const names = natsNames(options.subjectPrefix);
  const stream = names.ingestStream(options.org);
  const deadLetterSubject = names.deadLetterSubject(options.org);
  const js = jetstream(options.nats);
  const maxFailures = options.maxFailures ?? 5;
  const log = options.logger.child({ component: 'device-ingest', stream });

  async function deadLetter(message: JsMsg, code: string, reason: string): Promise<void> {
    const h = deadLetterHeaders({ code, reason, subject: message.subject, sequence: String(message.seq) });
    // The message id makes a retried dead-lettering (after a lost ack) a no-op.
    await js.publish(deadLetterSubject, message.data, { headers: h, msgID: `${stream}-${message.seq}` });
    // A bare +TERM: servers before 2.10.4 ignore a +TERM carrying a reason (nats-server#4697), which
    // would leave the message pending, delivered and dead-lettered again after every ack wait. The
    // reason travels in the dead letter's headers instead.
    message.term();
    options.onDeadLettered?.(code);
    log.warn({ seq: message.seq, code, reason }, 'device message dead-lettered');
  }

  /** Leaves the message for redelivery, after a delay that grows with its deliveries. */
  function retry(message: JsMsg, error: unknown): void {
    const deliveries = message.info.deliveryCount;
    log.error({ err: error, code: fromPrismaError(error).code, seq: message.seq, deliveries }, 'device batch not stored, will retry');
    message.nak(retryDelay(deliveries));
  }

  /** Runs a step for a message; if even dead-lettering fails (NATS unreachable), leaves it for redelivery. */
  async function settle(message: JsMsg, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      retry(message, error);
    }
  }

  /**
   * Internal failures of the messages being retried, by stream sequence. Only this process
   * counts them (JetStream counts deliveries, outages included). An entry outlives its message
   * only when another replica settles it, so no more are kept than may be pending: the oldest is forgotten.
   */
  const internalFailures = new Map<number, number>();
  function failedInternally(message: JsMsg): number {
    const failures = (internalFailures.get(message.seq) ?? 0) + 1;
    internalFailures.delete(message.seq);
    internalFailures.set(message.seq, failures);
    if (internalFailures.size > MAX_QUEUED) internalFailures.delete(internalFailures.keys().next().value!);
    return failures;
  }

  /** Stores one message: dead-lettered when it can never be stored, retried while the store is out. */
  async function storeOne({ message, readings }: Queued): Promise<void> {
    try {
      const result = await options.ingest([readings]);
      message.ack();
      internalFailures.delete(message.seq);
      options.onStored?.(result, [message.time]);
    } catch (error) {
      const known = fromPrismaError(error);
      if (known.code !== ErrorCode.UNAVAILABLE && known.code !== ErrorCode.INTERNAL) return deadLetter(message, known.code, known.message);
      if (known.code === ErrorCode.INTERNAL) {
        const failures = failedInternally(message);
        if (failures >= maxFailures) {
          await deadLetter(message, ErrorCode.INTERNAL, `Failed ${failures} times: ${error instanceof Error ? error.message : String(error)}`);
          // Only once it is dead-lettered: if that fails, the next delivery dead-letters it again.
          internalFailures.delete(message.seq);
          return;
        }
      }
      retry(message, error);
    }
  }

  /** Stores messages together; if that fails for another reason than an outage, one by one. */
  async function storeGroup(group: Queued[]): Promise<void> {
    if (group.length === 1) return settle(group[0]!.message, () => storeOne(group[0]!));
    try {
      const result = await options.ingest(group.map(({ readings }) => readings));
      for (const { message } of group) {
        message.ack();
        internalFailures.delete(message.seq);
      }
      options.onStored?.(
        result,
        group.map(({ message }) => message.time),
      );
      log.debug({ messages: group.length, ...result }, 'device batches stored together');
    } catch (error) {
      if (fromPrismaError(error).code === ErrorCode.UNAVAILABLE) return group.forEach(({ message }) => retry(message, error));
      for (const queued of group) await settle(queued.message, () => storeOne(queued));
    }
  }

  const queue: Queued[] = [];
  let storing: Promise<void> = Promise.resolve();
  /** Stores what is queued, in arrival order, in groups of at most `maxBatch` readings. */
  async function drain(): Promise<void> {
    while (queue.length > 0) {
      let readings = queue[0]!.readings.length;
      let size = 1;
      while (size < queue.length && readings + queue[size]!.readings.length <= options.maxBatch) readings += queue[size++]!.readings.length;
      await storeGroup(queue.splice(0, size));
    }
  }

  const consuming = keepConsuming({
    nats: options.nats,
    stream,
    durable: DURABLES.ingest,
    maxMessages: 64,
    logger: log,
    retryMs: options.retryMs,
    handle: async (message) => {
      let readings: unknown[];
      try {
        readings = readingsOf(message);
      } catch (error) {
        const known = fromPrismaError(error);
        return settle(message, () => deadLetter(message, known.code, known.message));
      }
      // The consumer hands over the messages it already holds within this turn: storing starts
      // on the next one, with all of them.
      queue.push({ message, readings });
      if (queue.length === 1) storing = storing.then(() => new Promise((resolve) => setImmediate(resolve))).then(drain);
      if (queue.length >= MAX_QUEUED) await storing;
    },
  });
  return {
    get consuming() {
      return consuming.consuming;
    },
    async stop() {
      await consuming.stop();
      await storing;
    },
  };
}

/** Device messages waiting for the organization's ingest consumer: not delivered yet, and delivered but not acknowledged. */
export async function ingestBacklog(nats: NatsConnection, subjectPrefix: string, org: string): Promise<{ pending: number; unacknowledged: number }> {
  const consumer = await jetstream(nats).consumers.get(natsNames(subjectPrefix).ingestStream(org), DURABLES.ingest);
  // Fetched by `get` just now.
  const info = await consumer.info(true);
  return { pending: info.num_pending, unacknowledged: info.num_ack_pending };
}
