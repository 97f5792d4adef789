import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Params, parseStripeForm } from './simulator.form.ts';

test('nested hashes and indexed arrays decode as the stripe SDK encodes them', () => {
  const parsed = parseStripeForm(
    'customer=cus_1&items[0][price]=price_pro_monthly&items[0][quantity]=2&items[1][price]=price_x&metadata[tenantId]=t%201&trial_settings[end_behavior][missing_payment_method]=cancel&expand[0]=latest_invoice&expand[1]=customer',
  );
  assert.deepEqual(JSON.parse(JSON.stringify(parsed)), {
    customer: 'cus_1',
    items: [{ price: 'price_pro_monthly', quantity: '2' }, { price: 'price_x' }],
    metadata: { tenantId: 't 1' },
    trial_settings: { end_behavior: { missing_payment_method: 'cancel' } },
    expand: ['latest_invoice', 'customer'],
  });
});

test('empty brackets append, + is a space, and percent-encoded brackets work too', () => {
  const parsed = parseStripeForm('expand[]=a&expand[]=b&name=Bistro+Nord&lookup_keys%5B0%5D=pro');
  assert.deepEqual(JSON.parse(JSON.stringify(parsed)), { expand: ['a', 'b'], name: 'Bistro Nord', lookup_keys: ['pro'] });
});

test('prototype-polluting keys are refused', () => {
  assert.throws(() => parseStripeForm('__proto__[admin]=true'), /Invalid parameter name/);
  assert.throws(() => parseStripeForm('metadata[constructor][x]=1'), /Invalid parameter name/);
  assert.equal(({} as Record<string, unknown>).admin, undefined);
});

test('metadata follows Stripe: an empty value removes a key, an empty hash clears all', () => {
  const current = { tenantId: 't', plan: 'pro' };
  assert.deepEqual(new Params(parseStripeForm('metadata[plan]=&metadata[note]=x')).metadata('metadata', current), { tenantId: 't', note: 'x' });
  assert.deepEqual(new Params(parseStripeForm('metadata=')).metadata('metadata', current), {});
});

test('typed readers refuse what Stripe refuses', () => {
  const params = new Params(parseStripeForm('trial_period_days=ten&cancel_at_period_end=yes&oops=1'));
  assert.throws(() => params.integer('trial_period_days'), /Invalid integer/);
  assert.throws(() => params.boolean('cancel_at_period_end'), /Invalid boolean/);
  assert.throws(() => params.allowOnly(['trial_period_days', 'cancel_at_period_end']), /Received unknown parameter: oops/);
});
