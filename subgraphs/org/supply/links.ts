import { z } from 'zod';
import { ErrorCode, fail } from '../../../lib/errors.ts';
import type { Prisma, SupplyLink as SupplyLinkRow } from '../../../prisma/generated/org/client.ts';

/** Most supply links of one twin: as many as its suppliers may be. */
export const MAX_SUPPLY_LINKS = 100;

/** Ten years: no lead time or buffer of a real supply chain is longer. */
const MAX_HOURS = 87_600;

const amount = z.number().finite().min(0).nullish();

/** What one supplier delivers to a twin (the `SupplyLinkInput` GraphQL input). */
export const supplyLinkInput = z
  .object({
    supplierId: z.string().max(300),
    part: z.string().trim().min(1).max(200).nullish(),
    share: z.number().min(0).max(1).default(1),
    leadTimeHours: z.number().min(0).max(MAX_HOURS).default(0),
    stock: amount,
    safetyStock: amount,
    consumptionPerDay: amount,
    daysOfSupply: z
      .number()
      .min(0)
      .max(MAX_HOURS / 24)
      .nullish(),
  })
  .refine((link) => link.stock == null || link.consumptionPerDay != null, { message: 'stock needs consumptionPerDay', path: ['consumptionPerDay'] })
  .refine((link) => link.stock == null || link.daysOfSupply == null, { message: 'give stock or daysOfSupply, not both', path: ['daysOfSupply'] });

export type SupplyLinkInput = z.output<typeof supplyLinkInput>;

/** The links of one twin, one per supplier. */
export const supplyLinksInput = z
  .array(supplyLinkInput)
  .max(MAX_SUPPLY_LINKS)
  .refine((links) => new Set(links.map((link) => link.supplierId)).size === links.length, 'one link per supplier');

/** What a twin can produce (the `CapacityInput` GraphQL input). */
export const capacityInput = z.object({
  perDay: z.number().positive().finite(),
  unit: z.string().trim().min(1).max(32).nullish(),
});

/** The capacity columns of a twin; null clears them. */
export function capacityData(capacity: z.output<typeof capacityInput> | null) {
  return { capacityPerDay: capacity?.perDay ?? null, capacityUnit: capacity?.unit ?? null };
}

/** A link's stored columns. */
export function linkData(link: SupplyLinkInput) {
  return {
    part: link.part ?? null,
    share: link.share,
    leadTimeHours: link.leadTimeHours,
    stock: link.stock ?? null,
    safetyStock: link.safetyStock ?? null,
    consumptionPerDay: link.consumptionPerDay ?? null,
    daysOfSupply: link.daysOfSupply ?? null,
  };
}

/** Throws `INVALID_INPUT` unless the link's supplier is among the twin's suppliers; `field` names the link. */
export function requireSupplier(suppliers: readonly string[], link: SupplyLinkInput, field: string): void {
  if (!suppliers.includes(link.supplierId)) {
    throw fail(ErrorCode.INVALID_INPUT, `${field}.supplierId: ${link.supplierId} is not among the twin's suppliedByIds.`, { field: `${field}.supplierId` });
  }
}

/** Replaces a twin's supply links (local id) by these; each supplier must be among `suppliers`. */
export async function replaceSupply(
  tx: Prisma.TransactionClient,
  twinId: string,
  suppliers: readonly string[],
  links: readonly SupplyLinkInput[],
  field: string,
) {
  links.forEach((link, index) => requireSupplier(suppliers, link, `${field}.${index}`));
  await tx.supplyLink.deleteMany({ where: { twinId } });
  await tx.supplyLink.createMany({ data: links.map((link) => ({ twinId, supplierId: link.supplierId, ...linkData(link) })) });
}

/** A stored link as the API shows it (`SupplyLink`), with the hours its buffer lasts at full consumption. */
export function linkView(link: SupplyLinkRow) {
  const days = link.daysOfSupply ?? (link.stock !== null && link.consumptionPerDay ? link.stock / link.consumptionPerDay : null);
  return {
    supplierId: link.supplierId,
    part: link.part,
    share: link.share,
    leadTimeHours: link.leadTimeHours,
    stock: link.stock,
    safetyStock: link.safetyStock,
    consumptionPerDay: link.consumptionPerDay,
    daysOfSupply: link.daysOfSupply,
    bufferHours: days === null ? null : days * 24,
  };
}
