import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../../platform/errors/index.ts';
import { scopeOf, operatorOf } from '../access/index.ts';
import type { Billing } from './billing.module.ts';
import { ProviderUnavailableError, WebhookPayloadError, WebhookSignatureError } from './billing.provider.ts';
import {
  CancelBody,
  ChangePlanBody,
  CheckoutBody,
  CheckoutView,
  IdParams,
  InvoicePage,
  OpsInvoicesQuery,
  PlanCatalogueView,
  BillingHistoryView,
  OpsListQuery,
  PageQuery,
  PaymentMethodBody,
  ReconcileBody,
  SubscriptionView,
  DivergencePage,
  BillingAlertPage,
  ResolvedAlertView,
  ReconcileRunPage,
  ReconcileSummaryView,
  WebhookEventPage,
} from './billing.schemas.ts';

const tags = ['billing'];
const opsTags = ['ops'];
/** A webhook body is small; anything larger is not from the provider. */
const WEBHOOK_BODY_LIMIT = 512 * 1024;

export async function billingRoutes(app: FastifyInstance, opts: { billing: Billing }) {
  const { service, inbox, reconciler, ops } = opts.billing;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  // The webhook needs the exact bytes that were signed: its own context, where every body is
  // kept as a Buffer instead of being parsed.
  await app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_req, body, done) => done(null, body));
    raw.post('/v1/billing/webhooks/stripe', {
      config: { access: { public: true } },
      bodyLimit: WEBHOOK_BODY_LIMIT,
      schema: {
        tags,
        summary: 'The payment provider\'s webhooks (Stripe format and signature); 200 once stored',
        response: { 200: Type.Object({ received: Type.Literal(true), id: Type.String({ description: 'The provider\'s event id' }), duplicate: Type.Boolean({ description: 'Already stored: nothing done twice' }) }) },
      },
      handler: async (req, reply) => {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const header = req.headers['stripe-signature'];
        try {
          const receipt = await inbox.receive(body, typeof header === 'string' ? header : undefined);
          return reply.code(200).send({ received: true, id: receipt.eventId, duplicate: receipt.duplicate });
        } catch (err) {
          if (err instanceof WebhookSignatureError) {
            // The reason only: never the header, the body or the secret.
            req.log.warn({ reason: err.reason, bytes: body.length }, 'billing: webhook refused (signature)');
            throw new AppError('invalid_signature', 'The Stripe-Signature header does not verify against this body and the endpoint secret, or its timestamp is too old.', { reason: err.reason });
          }
          if (err instanceof WebhookPayloadError) {
            req.log.warn({ bytes: body.length }, 'billing: webhook refused (payload)');
            throw new AppError('invalid_event', `The webhook body is not an event: ${err.message}.`);
          }
          throw err;
        }
      },
    });
  });

  r.get('/v1/billing/subscription', {
    config: { access: { action: 'billing.read', branch: 'tenant' } },
    schema: { tags, summary: 'The plan, status and entitlements of this business, with usage', response: { 200: SubscriptionView } },
    handler: async (req) => service.view(scopeOf(req)),
  });

  r.get('/v1/billing/plans', {
    config: { access: { authenticated: true } },
    schema: { tags, summary: 'The plan catalogue: prices, features and limits', response: { 200: PlanCatalogueView } },
    handler: async () => service.plans(),
  });

  r.post('/v1/billing/subscription/plan', {
    config: { access: { action: 'billing.manage', branch: 'tenant' }, idempotent: true },
    schema: {
      tags,
      summary: 'Change plan (prorated); refused when usage exceeds the new plan',
      description:
        'During a trial the plan changes at once (nothing is charged). On a paying subscription the prorated difference is invoiced and charged now, and the plan changes only if that charge succeeds: a declined card is 402 `payment_required` (with `declineCode`), and nothing changed at the provider or here.',
      body: ChangePlanBody,
      response: { 200: SubscriptionView },
    },
    handler: async (req) => service.changePlan(scopeOf(req), req.body.plan),
  });

  r.post('/v1/billing/subscription/cancel', {
    config: { access: { action: 'billing.manage', branch: 'tenant' }, idempotent: true },
    schema: { tags, summary: 'Cancel at the end of the period (default) or now', body: Type.Optional(CancelBody), response: { 200: SubscriptionView } },
    handler: async (req) => service.cancel(scopeOf(req), { atPeriodEnd: req.body?.atPeriodEnd ?? true, ...(req.body?.reason ? { reason: req.body.reason } : {}) }),
  });

  r.post('/v1/billing/subscription/undo-cancel', {
    config: { access: { action: 'billing.manage', branch: 'tenant' }, idempotent: true },
    schema: { tags, summary: 'Undo a cancellation scheduled for the end of the period', response: { 200: SubscriptionView } },
    handler: async (req) => service.undoCancel(scopeOf(req)),
  });

  r.post('/v1/billing/checkout', {
    config: { access: { action: 'billing.manage', branch: 'tenant' }, idempotent: true },
    schema: {
      tags,
      summary: 'A hosted payment page: starts a subscription on `plan`, or saves a card for the running one',
      body: Type.Optional(CheckoutBody),
      response: { 201: CheckoutView },
    },
    handler: async (req, reply) => reply.code(201).send(await service.checkout(scopeOf(req), req.body ?? {})),
  });

  r.post('/v1/billing/payment-method', {
    config: { access: { action: 'billing.manage', branch: 'tenant' }, idempotent: true },
    schema: { tags, summary: 'A hosted page that saves a new card (open invoices are retried with it)', body: Type.Optional(PaymentMethodBody), response: { 201: CheckoutView } },
    handler: async (req, reply) => reply.code(201).send(await service.paymentMethodSetup(scopeOf(req), req.body ?? {})),
  });

  r.get('/v1/billing/invoices', {
    config: { access: { action: 'billing.read', branch: 'tenant' } },
    schema: { tags, summary: 'Invoices, newest first, mirrored from the provider with their hosted pages', querystring: PageQuery, response: { 200: InvoicePage } },
    handler: async (req) => service.invoices(scopeOf(req), req.query),
  });

  r.get('/v1/billing/history', {
    config: { access: { action: 'billing.read', branch: 'tenant' } },
    schema: { tags, summary: 'Status changes of the subscription and the notices sent about it', response: { 200: BillingHistoryView } },
    handler: async (req) => service.history(scopeOf(req)),
  });

  r.get('/ops/api/billing/divergences', {
    config: { access: { operator: true } },
    schema: { tags: opsTags, summary: 'Differences reconciliation found between Brigade and the payment provider', querystring: OpsListQuery, response: { 200: DivergencePage } },
    handler: async (req) => ops.divergences(req.query),
  });

  r.get('/ops/api/billing/invoices', {
    config: { access: { operator: true } },
    schema: { tags: opsTags, summary: "One business's invoices, newest first (operational facts: no support grant needed)", querystring: OpsInvoicesQuery, response: { 200: InvoicePage } },
    handler: async (req) => ops.invoices(req.query),
  });

  r.get('/ops/api/billing/plans', {
    config: { access: { operator: true } },
    schema: { tags: opsTags, summary: 'The plan catalogue with its limits, for usage against them', response: { 200: PlanCatalogueView } },
    handler: async () => service.plans(),
  });

  r.get('/ops/api/billing/alerts', {
    config: { access: { operator: true } },
    schema: { tags: opsTags, summary: 'Billing alerts (disallowed transitions, persistent divergences, ...)', querystring: OpsListQuery, response: { 200: BillingAlertPage } },
    handler: async (req) => ops.alerts(req.query),
  });

  r.post('/ops/api/billing/alerts/:id/resolve', {
    config: { access: { operator: true } },
    schema: { tags: opsTags, summary: 'Mark an alert handled', params: IdParams, response: { 200: ResolvedAlertView } },
    handler: async (req) => ops.resolveAlert(operatorOf(req), req.params.id),
  });

  r.get('/ops/api/billing/reconciliations', {
    config: { access: { operator: true } },
    schema: { tags: opsTags, summary: 'Reconciliation runs, newest first', querystring: OpsListQuery, response: { 200: ReconcileRunPage } },
    handler: async (req) => ops.runs(req.query),
  });

  r.post('/ops/api/billing/reconcile', {
    config: { access: { operator: true } },
    schema: {
      tags: opsTags,
      summary: 'Reconcile now (every business, or one with {tenantId}); a bare POST reconciles every business. Answers with the run\'s summary',
      body: Type.Optional(ReconcileBody),
      response: { 200: ReconcileSummaryView },
    },
    handler: async (req) => {
      const operator = operatorOf(req);
      req.log.info({ operatorId: operator.operatorId, tenantId: req.body?.tenantId ?? null }, 'billing: reconciliation requested by an operator');
      try {
        return await reconciler.reconcile({ trigger: 'operator', ...(req.body?.tenantId ? { tenantId: req.body.tenantId } : {}) });
      } catch (err) {
        if (err instanceof ProviderUnavailableError) throw new AppError('payment_provider_unavailable', 'The payment provider cannot be reached; the run is recorded with its error. Try again later.');
        throw err;
      }
    },
  });

  r.get('/ops/api/billing/events', {
    config: { access: { operator: true } },
    schema: {
      tags: opsTags,
      summary: 'The webhook inbox',
      querystring: Type.Object(
        {
          ...OpsListQuery.properties,
          outcome: Type.Optional(Type.Unsafe<string>({ type: 'string', enum: ['pending', 'applied', 'ignored', 'unmatched', 'failed'] })),
          type: Type.Optional(Type.String({ maxLength: 100 })),
        },
        { additionalProperties: false },
      ),
      response: { 200: WebhookEventPage },
    },
    handler: async (req) => ops.events(req.query),
  });
}
