import { Type } from 'typebox';
import { defineJob } from '../../platform/jobs/index.ts';
import { sendOnce } from '../../platform/mail.ts';
import { lowStockMail } from './notifications.mails.ts';
import { branchAlertRecipients, branchAndTenant, inventoryItemLabel } from './notifications.repository.ts';

const Uuid = Type.String({ format: 'uuid' });
const Quantity = Type.Union([Type.Number(), Type.String({ maxLength: 40 })]);

/**
 * Written by the inventory use cases when stock falls to or below the reorder level. One mail
 * per recipient (addresses are not shown to each other); a retry sends only the missing ones.
 */
export const lowStockMailJob = defineJob(
  'mail.low_stock',
  Type.Object(
    { branchId: Uuid, inventoryItemId: Uuid, onHand: Quantity, reorderLevel: Quantity, itemName: Type.Optional(Type.String()), unit: Type.Optional(Type.String()) },
    { additionalProperties: true },
  ),
  async (job) => {
    const { branchId, inventoryItemId } = job.payload;
    const facts = await job.withTenant(async (trx) => ({
      where: await branchAndTenant(trx, job.tenantId, branchId),
      recipients: await branchAlertRecipients(trx, job.tenantId, branchId),
      item: job.payload.itemName ? { name: job.payload.itemName, unit: job.payload.unit ?? null } : await inventoryItemLabel(trx, job.tenantId, inventoryItemId),
    }));
    if (!facts.where) {
      job.log.info('the branch is gone; no low-stock mail');
      return;
    }
    const url = `${job.platform.config.BRIGADE_PUBLIC_URL}/inventory-items/${inventoryItemId}?branchId=${branchId}`;
    for (const r of facts.recipients) {
      await sendOnce({ mailer: job.mailer, tenancy: job.platform.tenancy }, job, r.email, () =>
        lowStockMail({
          userName: r.name,
          tenantName: facts.where!.tenant_name,
          branchName: facts.where!.branch_name,
          itemName: facts.item?.name ?? 'An inventory item',
          unit: facts.item?.unit ?? null,
          onHand: String(job.payload.onHand),
          reorderLevel: String(job.payload.reorderLevel),
          url,
        }),
      );
    }
  },
);

export const notificationJobs = [lowStockMailJob];
