import type { z } from 'zod';
import { ErrorCode, fail } from './errors.ts';

/**
 * Validates a caller's input against a zod schema. The first problem becomes an
 * `INVALID_INPUT` error naming the offending field, e.g. `input.metrics.2.unit`.
 */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, argument: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [argument, ...issue.path.map(String)].join('.');
  throw fail(ErrorCode.INVALID_INPUT, `${field}: ${issue.message}`, { field });
}
