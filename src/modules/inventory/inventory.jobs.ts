import { Type } from 'typebox';
import type { Tx } from '../../platform/db/index.ts';
import { defineJob } from '../../platform/jobs/index.ts';
import { sendOnce } from '../../platform/mail.ts';
import { findInventoryItem } from './inventory.repository.ts';
import { lowStockMail } from './inventory.mails.ts';
import { Uuid } from '../../platform/http/schemas.ts';

const Quantity = Type.Union([Type.Number(), Type.String({ maxLength: 40 })]);

/** Who hears about a branch's stock: its managers (for that branch or the whole business) and the owners. */
function branchAlertRecipients(trx: Tx, tenantId: string, branchId: string) {
  return trx
    .selectFrom('users as u')
    .innerJoin('role_assignments as ra', (j) => j.onRef('ra.tenant_id', '=', 'u.tenant_id').onRef('ra.user_id', '=', 'u.id'))
    .select(['u.id', 'u.email', 'u.name'])
    .distinct()
    .where('u.tenant_id', '=', tenantId)
    .where('u.status', '=', 'active')
    .where((eb) =>
      eb.or([
        eb('ra.role_key', '=', 'owner'),
        eb.and([eb('ra.role_key', '=', 'branch_manager'), eb.or([eb('ra.branch_id', '=', branchId), eb('ra.branch_id', 'is', null)])]),
      ]),
    )
    .orderBy('u.email')
    .execute();
}

function branchAndTenant(trx: Tx, tenantId: string, branchId: string) {
  return trx
    .selectFrom('branches as b')
    .innerJoin('tenants as t', 't.id', 'b.tenant_id')
    .select(['b.name as branch_name', 't.name as tenant_name'])
    .where('b.tenant_id', '=', tenantId)
    .where('b.id', '=', branchId)
    .executeTakeFirst();
}

/**
 * Written by moveStock when stock falls to or below the reorder level:
 * {branchId, inventoryItemId, onHand, reorderLevel}. One mail per recipient (addresses are not
 * shown to each other); a retry sends only the ones still missing.
 */
export const lowStockMailJob = defineJob(
  'mail.low_stock',
  Type.Object({ branchId: Uuid, inventoryItemId: Uuid, onHand: Quantity, reorderLevel: Quantity }, { additionalProperties: true }),
  async (job) => {
    const { branchId, inventoryItemId } = job.payload;
    const facts = await job.withTenant(async (trx) => ({
      where: await branchAndTenant(trx, job.tenantId, branchId),
      item: await findInventoryItem(trx, job.tenantId, inventoryItemId),
      recipients: await branchAlertRecipients(trx, job.tenantId, branchId),
    }));
    if (!facts.where || !facts.item) {
      job.log.info('the branch or the item is gone; no low-stock mail');
      return;
    }
    const url = new URL(`/inventory-items/${inventoryItemId}?branchId=${branchId}`, job.platform.config.BRIGADE_PUBLIC_URL).toString();
    for (const r of facts.recipients) {
      await sendOnce({ mailer: job.mailer, tenancy: job.platform.tenancy }, job, r.email, () =>
        lowStockMail({
          userName: r.name,
          tenantName: facts.where!.tenant_name,
          branchName: facts.where!.branch_name,
          itemName: facts.item!.name,
          unit: facts.item!.unit,
          onHand: String(job.payload.onHand),
          reorderLevel: String(job.payload.reorderLevel),
          url,
        }),
      );
    }
  },
);

export const inventoryJobs = [lowStockMailJob];
