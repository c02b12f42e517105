import { parseInput } from '../../../lib/validation.ts';
import type { OrgBase } from '../context.ts';
import { changeTwin, type TwinRow } from '../twins/store.ts';
import { linkData, linkView, requireSupplier, supplyLinkInput } from './links.ts';

/** What the twin's suppliers deliver to it; needs `supply:read` on the twin. */
export function supplyOf({ access }: OrgBase, twin: TwinRow) {
  access.requireTwin('supply:read', twin);
  access.read([twin.id]);
  return twin.suppliers.flatMap((supplier) => (supplier.supply ? [linkView(supplier.supply)] : []));
}

/** What the twin can produce; needs `supply:read` on the twin. */
export function capacityOf({ access }: OrgBase, twin: TwinRow) {
  access.requireTwin('supply:read', twin);
  access.read([twin.id]);
  return twin.capacityPerDay === null ? null : { perDay: twin.capacityPerDay, unit: twin.capacityUnit };
}

/** Sets what one of the twin's suppliers delivers to it (`twins:write` on the twin). */
export async function setSupply(store: OrgBase, twinId: string, raw: unknown) {
  const link = parseInput(supplyLinkInput, raw, 'supply');
  const twin = await changeTwin(store, twinId, 'twinId', async (tx, { id }) => {
    const suppliers = await tx.twinSupplier.findMany({ where: { twinId: id }, select: { supplierId: true } });
    requireSupplier(
      suppliers.map((s) => s.supplierId),
      link,
      'supply',
    );
    const data = linkData(link);
    await tx.supplyLink.upsert({
      where: { twinId_supplierId: { twinId: id, supplierId: link.supplierId } },
      create: { twinId: id, supplierId: link.supplierId, ...data },
      update: data,
    });
  });
  return linkView(twin.suppliers.find((s) => s.supplierId === link.supplierId)!.supply!);
}

/** Removes what a supplier delivers to the twin, keeping it among its suppliers (`twins:write` on the twin); whether there was a link. */
export async function removeSupply(store: OrgBase, twinId: string, supplierId: string): Promise<boolean> {
  let removed = false;
  await changeTwin(store, twinId, 'twinId', async (tx, twin) => {
    const { count } = await tx.supplyLink.deleteMany({ where: { twinId: twin.id, supplierId } });
    // A twin's supply is read under supply:read: a caller without it is told that every removal removed a link.
    removed = count > 0 || !store.access.allows('supply:read', twin);
  });
  return removed;
}
