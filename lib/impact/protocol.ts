import { z } from 'zod';
import { parseTwinId } from '../ids.ts';
import { HOUR_MS, MAX_SEGMENTS } from './loss.ts';
import type { ImpactQuestion, ImpactStepAnswer, ImpactStepRequest, Loss, Modifications, SupplierLoss } from './types.ts';

/**
 * What organizations, the directory and the gateway exchange about impact, as zod schemas: every
 * list and string bounded, every number finite, so that a hostile member or caller costs little.
 */

/** Longest signed statement accepted, in characters: room for the outputs of an organization's thousand twins. */
export const MAX_STATEMENT_LENGTH = 1_048_576;

/** Farthest a time may lie from now, in ms (and a duration, in hours). */
const TEN_YEARS_MS = 3652 * 24 * HOUR_MS;
const MAX_HOURS = TEN_YEARS_MS / HOUR_MS;

const twinId = z
  .string()
  .max(200)
  .refine((id) => parseTwinId(id) !== null, 'not a twin id of the form <org>:<local-id>');
/** A time in ms since the epoch, within ten years of now. */
const time = z
  .number()
  .int()
  .refine((at) => Math.abs(at - Date.now()) <= TEN_YEARS_MS, 'more than ten years away');
const hours = z.number().min(0).max(MAX_HOURS);
const share = z.number().min(0).max(1);
/** Share of its output a disrupted twin keeps: a twin keeping all of it is not disrupted. */
const capacity = z.number().min(0).lt(1);
/** Most inputs and disruptions one hop is asked about (`impactStepRequestSchema`). */
const MAX_INPUTS = 5000;
const MAX_DISRUPTIONS = 50;
const MAX_ORIGINS = MAX_INPUTS + MAX_DISRUPTIONS;
/** Most dependencies an answer states, over all its outputs. */
const MAX_DEPENDENCIES = 100_000;
const tier = z.number().int().min(0).max(1000);

const lossSchema: z.ZodType<Loss> = z
  .array(z.object({ from: time, to: time, loss: z.number().gt(0).max(1) }))
  .max(MAX_SEGMENTS)
  .refine(
    (loss) => loss.every((segment, i) => segment.from < segment.to && (i === 0 || loss[i - 1]!.to <= segment.from)),
    'segments overlap or are out of order',
  );

export const supplierLossSchema: z.ZodType<SupplierLoss> = z.object({ supplierId: twinId, tier, loss: lossSchema });

const modificationsSchema: z.ZodType<Modifications> = z.object({
  alternates: z.array(z.object({ customerId: twinId, part: z.string().min(1).max(200).nullable(), share, leadTimeHours: hours })).max(200),
  extraStock: z.array(z.object({ customerId: twinId, supplierId: twinId, days: z.number().gt(0).max(3652) })).max(200),
  leadTimes: z.array(z.object({ customerId: twinId, supplierId: twinId, leadTimeHours: hours })).max(200),
});

/** A disruption's end, when given with its start, is after it. */
const ordered = (disruption: { from?: number | string; to?: number | string }) =>
  disruption.from === undefined || disruption.to === undefined || new Date(disruption.from) < new Date(disruption.to);

const disruptionRequestSchema = z
  .object({
    twinId,
    from: time.optional(),
    to: time.optional(),
    hours: hours.gt(0).optional(),
    capacity,
    predicted: z.boolean(),
  })
  .refine(ordered, { message: 'to is not after from', path: ['to'] });

const resolvedDisruptionSchema = z
  .object({
    twinId,
    from: time,
    to: time,
    capacity,
    predicted: z.boolean(),
    spreadHours: hours.nullable(),
  })
  .refine(ordered, { message: 'to is not after from', path: ['to'] });

export const impactStepRequestSchema: z.ZodType<ImpactStepRequest> = z
  .object({
    now: time,
    until: time,
    disruptions: z.array(disruptionRequestSchema).max(MAX_DISRUPTIONS),
    inputs: z.array(supplierLossSchema).max(MAX_INPUTS),
    modifications: modificationsSchema,
  })
  .refine((request) => request.until >= request.now, 'until is before now');

const affectedTwinSchema = z.object({
  twinId,
  tier,
  from: time,
  to: time,
  capacityLost: z.number().gt(0).max(1),
  unitsLost: z.number().min(0).nullable(),
  atRiskFrom: time.nullable(),
  via: twinId,
  loss: lossSchema,
});

export const impactStepAnswerSchema: z.ZodType<ImpactStepAnswer> = z.object({
  disruptions: z.array(resolvedDisruptionSchema).max(MAX_DISRUPTIONS),
  affected: z.array(affectedTwinSchema).max(10_000),
  outputs: z.array(supplierLossSchema).max(10_000),
  dependsOn: z
    .array(z.object({ supplierId: twinId, on: z.array(twinId).max(MAX_ORIGINS) }))
    .max(10_000)
    .refine((all) => all.reduce((sum, { on }) => sum + on.length, 0) <= MAX_DEPENDENCIES, `more than ${MAX_DEPENDENCIES} dependencies`),
  statement: z.string().min(1).max(MAX_STATEMENT_LENGTH),
  hidden: z.number().int().min(0),
  cycles: z.array(twinId).max(10_000),
});

/** An ISO 8601 date-time with its offset. */
const isoTime = z.iso.datetime({ offset: true });

/** A saved what-if scenario: exactly the input the gateway's impact question takes. */
export const scenarioSchema = z.object({
  name: z.string().min(1).max(200),
  disruptions: z
    .array(
      z
        .object({
          twinId,
          from: isoTime.optional(),
          to: isoTime.optional(),
          hours: hours.gt(0).optional(),
          capacity: capacity.default(0),
          predicted: z.boolean().default(false),
        })
        .refine(ordered, { message: 'to is not after from', path: ['to'] }),
    )
    .min(1)
    .max(50),
  alternates: z
    .array(z.object({ customerId: twinId, part: z.string().min(1).max(200).nullable().default(null), share, leadTimeHours: hours }))
    .max(200)
    .optional(),
  extraStock: z
    .array(z.object({ customerId: twinId, supplierId: twinId, days: z.number().gt(0).max(3652) }))
    .max(200)
    .optional(),
  leadTimes: z
    .array(z.object({ customerId: twinId, supplierId: twinId, leadTimeHours: hours }))
    .max(200)
    .optional(),
});
export type Scenario = z.output<typeof scenarioSchema>;

/** The impact question a scenario asks at `now`, over `horizonHours`, at most `maxHops` hops away. */
export function scenarioQuestion(scenario: Scenario, now: number, horizonHours: number, maxHops: number): ImpactQuestion {
  return {
    disruptions: scenario.disruptions.map(({ twinId, from, to, hours, capacity, predicted }) => ({
      twinId,
      ...(from === undefined ? {} : { from: Date.parse(from) }),
      ...(to === undefined ? {} : { to: Date.parse(to) }),
      ...(hours === undefined ? {} : { hours }),
      capacity,
      predicted,
    })),
    modifications: { alternates: scenario.alternates ?? [], extraStock: scenario.extraStock ?? [], leadTimes: scenario.leadTimes ?? [] },
    horizonHours,
    maxHops,
    now,
  };
}
