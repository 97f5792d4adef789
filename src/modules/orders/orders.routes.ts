import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { scopeOf, branchFromBody, type BranchResolver, type Permission } from '../access/index.ts';
import { IdParams } from '../../platform/http/schemas.ts';
import { PlaceOrderBody, PayOrderBody, RefundOrderBody, VoidOrderBody, ListOrdersQuery, OrderResponse, OrderPage } from './orders.schemas.ts';
import type { OrdersService } from './orders.service.ts';

export async function ordersRoutes(app: FastifyInstance, opts: { orders: OrdersService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { orders } = opts;
  const tags = ['orders'];
  /** The permission applies in the branch of the order the URL names. */
  const orderBranch =
    (permission: Permission): BranchResolver =>
    (req: FastifyRequest, scope) =>
      orders.branchForAccess(scope, (req.params as { id: string }).id, permission);

  r.get('/v1/orders', {
    config: { access: { permission: 'orders.read_open', branch: 'list' } },
    schema: { tags, summary: 'Orders of the branches the caller may see, newest first (with orders.read_open only: the open ones)', querystring: ListOrdersQuery, response: { 200: OrderPage } },
    handler: async (req) => orders.listOrders(scopeOf(req), req.query),
  });

  r.post('/v1/orders', {
    config: { access: { action: 'orders.create', branch: branchFromBody, entitlement: { limit: 'ordersPerMonth' } }, idempotent: true },
    schema: { tags, summary: 'Open an order; lines are priced now', body: PlaceOrderBody, response: { 201: OrderResponse } },
    handler: async (req, reply) => reply.code(201).send({ order: await orders.placeOrder(scopeOf(req), req.body) }),
  });

  r.get('/v1/orders/:id', {
    config: { access: { permission: 'orders.read_open', branch: orderBranch('orders.read_open') } },
    schema: { tags, summary: 'One order with its lines and payment (an order that is no longer open needs orders.read)', params: IdParams, response: { 200: OrderResponse } },
    handler: async (req) => ({ order: await orders.getOrder(scopeOf(req), req.params.id) }),
  });

  r.post('/v1/orders/:id/pay', {
    config: { access: { action: 'orders.pay', branch: orderBranch('orders.pay') }, idempotent: true },
    schema: {
      tags,
      summary: 'Take payment: cash (change given) or card (exactly the total); consumes recipe stock',
      description: 'Of two tills paying one order at once, one gets 200 and the other 409 order_not_open.',
      params: IdParams,
      body: PayOrderBody,
      response: { 200: OrderResponse },
    },
    handler: async (req) => ({ order: await orders.payOrder(scopeOf(req), req.params.id, req.body) }),
  });

  r.post('/v1/orders/:id/refund', {
    config: { access: { action: 'orders.refund', branch: orderBranch('orders.refund') }, idempotent: true },
    schema: { tags, summary: 'Refund a paid order (audited)', params: IdParams, body: RefundOrderBody, response: { 200: OrderResponse } },
    handler: async (req) => ({ order: await orders.refundOrder(scopeOf(req), req.params.id, req.body) }),
  });

  r.post('/v1/orders/:id/void', {
    config: { access: { action: 'orders.void', branch: orderBranch('orders.void') }, idempotent: true },
    schema: { tags, summary: 'Void an open order (audited)', params: IdParams, body: VoidOrderBody, response: { 200: OrderResponse } },
    handler: async (req) => ({ order: await orders.voidOrder(scopeOf(req), req.params.id, req.body) }),
  });
}
