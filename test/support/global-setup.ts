import type { TestProject } from 'vitest/node';
import { startNatsServer, type NatsTrust } from './nats-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The NATS server of this test run, and the keys it trusts (test/support/services.ts: natsForTest). */
    nats: { url: string } & NatsTrust;
  }
}

/**
 * One NATS server for the whole test run, secured as a network operator's is: tests never run
 * against an open server. Each test network is an account of its own on it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startNatsServer();
  project.provide('nats', { url: server.url, ...server.trust });
  return () => server.dispose();
}
