import { jetstream, JetStreamApiError, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.ts';
import { consumeDurable, deleteStreams, DURABLES, ensureMemberStreams, ensureNetworkStreams, natsNames } from '../../lib/nats.ts';
import { startNetwork } from '../support/network.ts';
import { Disposers, natsForTest, randomName, type TestBus } from '../support/services.ts';

const disposers = new Disposers();
let bus: TestBus;

/** A subject prefix of the test's own on the bus, its streams deleted afterwards. */
function ownPrefix(): { prefix: string; names: ReturnType<typeof natsNames> } {
  const prefix = randomName('s');
  disposers.add(() => deleteStreams(bus.nats, prefix));
  return { prefix, names: natsNames(prefix) };
}

beforeAll(async () => {
  bus = await natsForTest();
  disposers.add(() => bus.nats.drain());
  disposers.add(() => deleteStreams(bus.nats, bus.subjectPrefix));
});
afterAll(() => disposers.dispose());

describe("the network's streams", () => {
  it('are brought to their limits when they exist already', async () => {
    const { prefix, names } = ownPrefix();
    const jsm = await jetstreamManager(bus.nats);
    // As an earlier release made them: an age, nothing else bounding them.
    const earlier = (name: string, subject: string, extra = {}) =>
      jsm.streams.add({ name, subjects: [subject], max_age: 86_400e9, max_bytes: 123_456_789, ...extra });
    await earlier(names.eventsStream, names.eventsSubjects);
    await earlier(names.revocationsStream, names.revocationsSubjects);
    await earlier(names.ingestStream('acme'), names.ingestSubject('acme'), { retention: RetentionPolicy.Workqueue });
    await earlier(names.deadLetterStream('acme'), names.deadLetterSubject('acme'));
    await earlier(names.accessReportStream('acme'), names.accessReportSubject('acme'));

    await ensureNetworkStreams(bus.nats, prefix, { eventsMaxBytes: 5 * 2 ** 20 });
    await ensureMemberStreams(bus.nats, prefix, 'acme', { ingestMaxBytes: 3 * 2 ** 20, ingestMaxMessageBytes: 2 ** 16 });

    const config = async (name: string) => {
      const { max_bytes, max_msg_size, max_msgs_per_subject, discard } = (await jsm.streams.info(name)).config;
      return { max_bytes, max_msg_size, max_msgs_per_subject, discard };
    };
    expect(await config(names.eventsStream)).toEqual({ max_bytes: 5 * 2 ** 20, max_msg_size: 65_536, max_msgs_per_subject: -1, discard: 'old' });
    expect(await config(names.revocationsStream)).toEqual({ max_bytes: 256 * 2 ** 20, max_msg_size: 16_384, max_msgs_per_subject: 10_000, discard: 'old' });
    expect(await config(names.ingestStream('acme'))).toEqual({ max_bytes: 3 * 2 ** 20, max_msg_size: 2 ** 16, max_msgs_per_subject: -1, discard: 'new' });
    expect(await config(names.deadLetterStream('acme'))).toEqual({
      max_bytes: 256 * 2 ** 20,
      max_msg_size: 2 ** 16 + 4096,
      max_msgs_per_subject: -1,
      discard: 'old',
    });
    expect(await config(names.accessReportStream('acme'))).toEqual({
      max_bytes: 256 * 2 ** 20,
      max_msg_size: 256 * 1024,
      max_msgs_per_subject: -1,
      discard: 'old',
    });
  });

  it("cannot be made without a size in the network's account", async () => {
    const { prefix } = ownPrefix();
    const jsm = await jetstreamManager(bus.nats);
    const refused = await jsm.streams.add({ name: `${prefix}_UNBOUNDED`, subjects: [`${prefix}.unbounded`] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(JetStreamApiError);
    expect((refused as JetStreamApiError).message).toMatch(/max bytes/i);
  });

  it("refuse a member's devices beyond the member's ingest room, and keep what they accepted", async () => {
    // The device's credentials name the bus's subjects.
    const names = natsNames(bus.subjectPrefix);
    await ensureMemberStreams(bus.nats, bus.subjectPrefix, 'acme', { ingestMaxBytes: 64 * 1024, ingestMaxMessageBytes: 8 * 1024 });
    const device = await bus.connect({ kind: 'device', org: 'acme', device: 'press-1' });
    disposers.add(() => device.drain());
    const js = jetstream(device);
    const batch = JSON.stringify({
      readings: [{ twinId: 'acme:press-1', metric: 'temperature', at: '2026-01-01T00:00:00Z', value: 1 }],
      pad: 'x'.repeat(4000),
    });

    await expect(js.publish(names.ingestSubject('acme'), 'x'.repeat(8 * 1024 + 1))).rejects.toThrow(/message size exceeds maximum/i);
    let accepted = 0;
    let refusal: unknown;
    while (!refusal) {
      await js.publish(names.ingestSubject('acme'), batch).then(
        () => accepted++,
        (error: unknown) => (refusal = error),
      );
    }
    expect(String(refusal)).toMatch(/maximum bytes exceeded/i);
    const { state } = await (await jetstreamManager(bus.nats)).streams.info(names.ingestStream('acme'));
    expect(accepted).toBeGreaterThan(10);
    expect(state.messages).toBe(accepted);
    expect(state.bytes).toBeLessThanOrEqual(64 * 1024);
  });

  it('take their sizes from the directory', async () => {
    const network = await startNetwork(disposers, ['acme'], { streamLimits: { eventsMaxBytes: 7 * 2 ** 20, ingestMaxBytes: 6 * 2 ** 20 } });
    const jsm = await jetstreamManager(network.nats);
    const names = natsNames(network.subjectPrefix);
    expect((await jsm.streams.info(names.eventsStream)).config.max_bytes).toBe(7 * 2 ** 20);
    expect((await jsm.streams.info(names.ingestStream('acme'))).config.max_bytes).toBe(6 * 2 ** 20);
  });
});

describe('a durable consumer', () => {
  it('stops at once when told to stop while it is still starting', async () => {
    const { prefix, names } = ownPrefix();
    await ensureMemberStreams(bus.nats, prefix, 'acme');
    const consuming = consumeDurable({
      nats: bus.nats,
      stream: names.ingestStream('acme'),
      durable: DURABLES.ingest,
      handle: async () => undefined,
      logger: createLogger('test', 'silent'),
    });
    // Told to stop before its messages were asked for: stopping must not wait for an iterator nobody runs.
    await consuming.stop();
    expect(consuming.consuming).toBe(false);
  });
});
