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
  /** Stores one batch; the message is acknowledged only after it resolves. */
  ingest: (readings: unknown[]) => Promise<IngestResult>;
  /** Called after a batch was stored (e.g. to publish the events it left in the outbox), with when it reached the stream. */
  onStored?: (result: IngestResult, publishedAt: Date) => void;
  /** Called after a message was dead-lettered, with its error code. */
  onDeadLettered?: (code: string) => void;
  logger: Logger;
  /**
   * Deliveries of a message that keeps failing with an internal error before it is moved to
   * the dead-letter subject. Store outages (`UNAVAILABLE`) are retried without limit.
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

/**
 * Consumes device telemetry from JetStream. Each message is one batch
 * (`{"readings": [{"twinId", "metric", "at", "value"}]}`), stored all or nothing, and
 * acknowledged only after the batch is committed. A message that can never be stored goes to
 * the dead-letter subject with the reason in its headers, so it never blocks the stream. Until
 * the network operator has created the organization's ingest stream, it waits and tries again.
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

  async function handle(message: JsMsg): Promise<void> {
    try {
      const result = await options.ingest(readingsOf(message));
      message.ack();
      options.onStored?.(result, message.time);
      log.debug({ seq: message.seq, ...result }, 'device batch stored');
    } catch (error) {
      const known = fromPrismaError(error);
      if (known.code !== ErrorCode.UNAVAILABLE && known.code !== ErrorCode.INTERNAL) return deadLetter(message, known.code, known.message);
      const deliveries = message.info.deliveryCount;
      if (known.code === ErrorCode.INTERNAL && deliveries >= maxFailures) {
        return deadLetter(message, ErrorCode.INTERNAL, `Failed ${deliveries} times: ${error instanceof Error ? error.message : String(error)}`);
      }
      log.error({ err: error, seq: message.seq, deliveries }, 'device batch failed, will retry');
      message.nak(retryDelay(deliveries));
    }
  }

  return keepConsuming({
    nats: options.nats,
    stream,
    durable: DURABLES.ingest,
    maxMessages: 64,
    logger: log,
    retryMs: options.retryMs,
    handle: async (message) => {
      try {
        await handle(message);
      } catch (error) {
        // Dead-lettering itself failed (NATS unreachable): leave the message unacknowledged
        // so that it is delivered again.
        log.error({ err: error, seq: message.seq }, 'device message left for redelivery');
        message.nak(retryDelay(message.info.deliveryCount));
      }
    },
  });
}

/** Device messages waiting for the organization's ingest consumer: not delivered yet, and delivered but not acknowledged. */
export async function ingestBacklog(nats: NatsConnection, subjectPrefix: string, org: string): Promise<{ pending: number; unacknowledged: number }> {
  const consumer = await jetstream(nats).consumers.get(natsNames(subjectPrefix).ingestStream(org), DURABLES.ingest);
  // Fetched by `get` just now.
  const info = await consumer.info(true);
  return { pending: info.num_pending, unacknowledged: info.num_ack_pending };
}
