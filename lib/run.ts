import type { Logger } from './logger.ts';

/**
 * Keeps a service running until SIGINT or SIGTERM, then runs its disposers in order
 * (stop accepting work first, close connections last). A second signal exits at once.
 */
export function runUntilSignal(logger: Logger, disposers: (() => Promise<unknown>)[]): Promise<void> {
  return new Promise((resolve) => {
    const shutdown = async (signal: NodeJS.Signals) => {
      process.once(signal, () => process.exit(130));
      logger.info({ signal }, 'shutting down');
      await stopInOrder(disposers, logger);
      resolve();
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
}

/**
 * Runs `start`; when it fails, runs `stop` (which must cope with a partial start) before the
 * error goes on, so that a service that could not start leaves nothing open behind it.
 */
export async function startOrStop<T>(start: () => Promise<T>, stop: () => Promise<unknown>, logger: Logger): Promise<T> {
  try {
    return await start();
  } catch (error) {
    await stop().catch((stopError: unknown) => logger.warn({ err: stopError }, 'not stopped cleanly after a failed start'));
    throw error;
  }
}

/** Runs each stop in order, every one whatever failed before it (each failure logged), so that nothing is left open. */
export async function stopInOrder(stops: readonly (() => Promise<unknown>)[], logger: Logger): Promise<void> {
  for (const stop of stops) {
    try {
      await stop();
    } catch (error) {
      logger.error({ err: error }, 'error during shutdown');
    }
  }
}
