import { JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

export type { NatsConnection };

/** Connects to NATS, reconnecting forever: a NATS outage delays work, it never stops a service. */
export function connectNats(servers: string, name: string): Promise<NatsConnection> {
  return connect({ servers: servers.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
}

/** Stream names may not contain `.`, `*`, `>` or spaces. */
function streamName(...parts: string[]): string {
  return parts
    .join('_')
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .toUpperCase();
}

/**
 * The subjects and stream names of one twinx deployment. The prefix is required with no
 * default so that two deployments cannot share channels by accident.
 */
export function natsNames(prefix: string) {
  const stream = (...parts: string[]) =>
    [prefix, ...parts]
      .join('_')
      .replace(/[^A-Za-z0-9_-]/g, '_')
      .toUpperCase();
  return {
    /** Device telemetry for one organization. */
    ingestSubject: (org: string) => `${prefix}.ingest.${org}`,
    ingestStream: (org: string) => stream('ingest', org),
    /** Device messages that could not be ingested, with the reason in headers. */
    deadLetterSubject: (org: string) => `${prefix}.deadletter.ingest.${org}`,
    deadLetterStream: (org: string) => stream('deadletter', org),
  };
}

/** JetStream API error code (JetStreamApiCodes.StreamNotFound). */
const STREAM_NOT_FOUND = 10059;

/** Creates the stream, or brings an existing one to this configuration. */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND)) throw error;
    await jsm.streams.add(config);
  }
}

/** Deletes every stream of a deployment's subject prefix (tests, benchmarks, teardown). */
export async function deleteStreams(nats: NatsConnection, subjectPrefix: string): Promise<void> {
  const jsm = await jetstreamManager(nats);
  const prefix = `${streamName(subjectPrefix)}_`;
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(prefix)) await jsm.streams.delete(name);
  }
}

export { jetstreamManager };
