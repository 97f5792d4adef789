import { composeMail } from '../../platform/mail.ts';

export function lowStockMail(p: { userName: string; tenantName: string; branchName: string; itemName: string; unit: string | null; onHand: string; reorderLevel: string; url: string }) {
  const qty = (n: string) => (p.unit ? `${n} ${p.unit}` : n);
  return composeMail({
    subject: `Low stock at ${p.branchName}: ${p.itemName}`,
    greeting: `Hello ${p.userName},`,
    paragraphs: [
      `${p.itemName} at ${p.branchName} is down to ${qty(p.onHand)}, at or below its reorder level of ${qty(p.reorderLevel)}.`,
      'Time to reorder before it runs out during service.',
    ],
    action: { label: 'Open the stock of this branch', url: p.url },
    note: `You receive this because you manage ${p.branchName} or own ${p.tenantName}.`,
  });
}
