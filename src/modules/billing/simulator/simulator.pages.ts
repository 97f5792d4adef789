import type { CheckoutBookkeeping, CheckoutSessionObject, CustomerObject, InvoiceObject, PriceObject, ProductObject } from './simulator.state.ts';

/**
 * The pages a customer sees: the hosted checkout page, the hosted invoice page and the
 * invoice as a PDF document. Plain HTML, no scripts: they only need to be readable and to
 * work from a browser or from a test.
 */

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export function formatMoney(minor: number, currency: string): string {
  return new Intl.NumberFormat('en-IE', { style: 'currency', currency: currency.toUpperCase() }).format(minor / 100);
}

function formatDate(unix: number): string {
  return new Date(unix * 1000).toISOString().slice(0, 10);
}

const style = `body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
table{width:100%;border-collapse:collapse}td,th{padding:.4rem;border-bottom:1px solid #ddd;text-align:left}
td.amount,th.amount{text-align:right}.badge{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eee}
button{padding:.5rem 1rem;margin:.2rem 0}.note{color:#666;font-size:.9rem}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${style}</style></head><body>${body}</body></html>`;
}

export function renderCheckoutPage(
  session: CheckoutSessionObject,
  books: CheckoutBookkeeping,
  prices: Record<string, PriceObject>,
  products: Record<string, ProductObject>,
): string {
  const rows = books.lineItems
    .map((item) => {
      const price = prices[item.price];
      const product = price ? products[price.product] : undefined;
      const amount = price ? formatMoney(price.unit_amount * item.quantity, price.currency) : '';
      const per = price?.recurring ? ` / ${price.recurring.interval}` : '';
      return `<tr><td>${escapeHtml(product?.name ?? item.price)} × ${item.quantity}</td><td class="amount">${amount}${per}</td></tr>`;
    })
    .join('');
  const trial = books.subscriptionData.trialPeriodDays ? `<p>Free for ${books.subscriptionData.trialPeriodDays} days, then billed each period.</p>` : '';
  const card = (reference: string, label: string): string =>
    `<form method="post" action="/_sim/checkout/${encodeURIComponent(session.id)}/complete"><input type="hidden" name="payment_method" value="${reference}"><button type="submit">${label}</button></form>`;
  const body =
    session.status === 'open'
      ? `<h1>Checkout</h1><p class="note">Local payment simulator: no real money moves.</p>
<table>${rows}</table>${trial}
<h2>Pay with a test card</h2>
${card('pm_card_visa', 'Visa •••• 4242 (succeeds)')}
${card('pm_card_chargeCustomerFail', 'Visa •••• 0341 (attaches, later charges fail)')}
${card('pm_card_chargeDeclined', 'Visa •••• 0002 (declined)')}
${session.cancel_url ? `<p><a href="${escapeHtml(session.cancel_url)}">Cancel</a></p>` : ''}`
      : `<h1>Checkout</h1><p>This session is <span class="badge">${escapeHtml(session.status)}</span>.</p>`;
  return page('Checkout', body);
}

export function renderCheckoutError(session: CheckoutSessionObject, message: string): string {
  return page(
    'Payment declined',
    `<h1>Payment declined</h1><p>${escapeHtml(message)}</p><p><a href="/_sim/checkout/${encodeURIComponent(session.id)}">Try another card</a></p>`,
  );
}

export function renderInvoicePage(invoice: InvoiceObject, customer: CustomerObject | undefined): string {
  const rows = invoice.lines.data
    .map(
      (line) =>
        `<tr><td>${escapeHtml(line.description)}<br><span class="note">${formatDate(line.period.start)} – ${formatDate(line.period.end)}</span></td><td class="amount">${formatMoney(line.amount, line.currency)}</td></tr>`,
    )
    .join('');
  const body = `<h1>Invoice ${escapeHtml(invoice.number ?? invoice.id)}</h1>
<p><span class="badge">${escapeHtml(invoice.status)}</span></p>
<p>From ${escapeHtml(invoice.account_name)}<br>To ${escapeHtml(customer?.name ?? customer?.email ?? invoice.customer)}${customer?.email && customer.name ? ` &lt;${escapeHtml(customer.email)}&gt;` : ''}</p>
<p>Issued ${formatDate(invoice.status_transitions.finalized_at ?? invoice.created)}${invoice.status_transitions.paid_at ? `, paid ${formatDate(invoice.status_transitions.paid_at)}` : ''}</p>
<table><tr><th>Description</th><th class="amount">Amount</th></tr>${rows}
<tr><th>Total</th><th class="amount">${formatMoney(invoice.total, invoice.currency)}</th></tr>
<tr><td>Amount paid</td><td class="amount">${formatMoney(invoice.amount_paid, invoice.currency)}</td></tr>
<tr><th>Amount due</th><th class="amount">${formatMoney(invoice.amount_remaining, invoice.currency)}</th></tr></table>
<p><a href="/_sim/invoices/${encodeURIComponent(invoice.id)}/pdf">Download PDF</a></p>`;
  return page(`Invoice ${invoice.number ?? invoice.id}`, body);
}

/** A one-page PDF (PDF 1.4, Helvetica, text only) with the invoice's lines and totals. */
export function renderInvoicePdf(invoice: InvoiceObject, customer: CustomerObject | undefined): Buffer {
  const text = [
    `Invoice ${invoice.number ?? invoice.id}`,
    `Status: ${invoice.status}`,
    `From: ${invoice.account_name}`,
    `To: ${customer?.name ?? ''} ${customer?.email ?? invoice.customer}`.trim(),
    `Issued: ${formatDate(invoice.status_transitions.finalized_at ?? invoice.created)}`,
    '',
    ...invoice.lines.data.map((line) => `${line.description}  (${formatDate(line.period.start)} - ${formatDate(line.period.end)})   ${pdfMoney(line.amount, line.currency)}`),
    '',
    `Total: ${pdfMoney(invoice.total, invoice.currency)}`,
    `Amount paid: ${pdfMoney(invoice.amount_paid, invoice.currency)}`,
    `Amount due: ${pdfMoney(invoice.amount_remaining, invoice.currency)}`,
  ];
  const content = ['BT', '/F1 11 Tf', '14 TL', '50 790 Td', ...text.map((line, i) => `${i === 0 ? '' : 'T* '}(${pdfString(line)}) Tj`), 'ET'].join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** Amounts in plain ASCII: the PDF's standard font has no glyph for every currency sign. */
function pdfMoney(minor: number, currency: string): string {
  const sign = minor < 0 ? '-' : '';
  return `${sign}${(Math.abs(minor) / 100).toFixed(2)} ${currency.toUpperCase()}`;
}

function pdfString(text: string): string {
  return text
    .replace(/×/g, 'x')
    .replace(/[–—]/g, '-')
    .replace(/[^\x20-\x7e]/g, '?').replace(/([\\()])/g, '\\$1');
}
