import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { scopeOf, branchFromBody } from '../access/index.ts';
import { IdParams } from '../../platform/http/schemas.ts';
import {
  CreateInventoryItemBody, UpdateInventoryItemBody, AdjustStockBody, ListInventoryItemsQuery, ListMovementsQuery, ListAlertsQuery,
  InventoryItemResponse, InventoryItemPage, StockResponse, AdjustmentResponse, MovementPage, LowStockAlertPage,
} from './inventory.schemas.ts';
import type { InventoryService } from './inventory.service.ts';

export async function inventoryRoutes(app: FastifyInstance, opts: { inventory: InventoryService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { inventory } = opts;
  const tags = ['inventory'];

  r.get('/v1/inventory-items', {
    config: { access: { permission: 'inventory.read', branch: 'list' } },
    schema: { tags, summary: 'Inventory items of the business', querystring: ListInventoryItemsQuery, response: { 200: InventoryItemPage } },
    handler: async (req) => inventory.listInventoryItems(scopeOf(req), req.query),
  });

  // The catalogue of stock is shared by all branches: changing it is a business-wide act.
  r.post('/v1/inventory-items', {
    config: { access: { permission: 'inventory.adjust', branch: 'tenant' }, idempotent: true },
    schema: { tags, summary: 'Add an inventory item', body: CreateInventoryItemBody, response: { 201: InventoryItemResponse } },
    handler: async (req, reply) => reply.code(201).send({ inventoryItem: await inventory.createInventoryItem(scopeOf(req), req.body) }),
  });

  r.get('/v1/inventory-items/:id', {
    config: { access: { permission: 'inventory.read', branch: 'list' } },
    schema: { tags, summary: 'One inventory item', params: IdParams, response: { 200: InventoryItemResponse } },
    handler: async (req) => ({ inventoryItem: await inventory.getInventoryItem(scopeOf(req), req.params.id) }),
  });

  r.patch('/v1/inventory-items/:id', {
    config: { access: { permission: 'inventory.adjust', branch: 'tenant' } },
    schema: { tags, summary: 'Rename an item, change its unit or reorder level', params: IdParams, body: UpdateInventoryItemBody, response: { 200: InventoryItemResponse } },
    handler: async (req) => ({ inventoryItem: await inventory.updateInventoryItem(scopeOf(req), req.params.id, req.body) }),
  });

  r.get('/v1/inventory-items/:id/stock', {
    config: { access: { permission: 'inventory.read', branch: 'list' } },
    schema: { tags, summary: 'On hand in each branch the caller may see', params: IdParams, response: { 200: StockResponse } },
    handler: async (req) => ({ data: await inventory.stockOf(scopeOf(req), req.params.id) }),
  });

  r.get('/v1/inventory-items/:id/movements', {
    config: { access: { permission: 'inventory.read', branch: 'list' } },
    schema: { tags, summary: 'The stock ledger of an item, newest first', params: IdParams, querystring: ListMovementsQuery, response: { 200: MovementPage } },
    handler: async (req) => inventory.listMovements(scopeOf(req), req.params.id, req.query),
  });

  r.post('/v1/inventory-items/:id/adjustments', {
    config: { access: { action: 'inventory.adjust', branch: branchFromBody }, idempotent: true },
    schema: {
      tags,
      summary: 'Record a delivery, waste, stocktake or correction in one branch',
      description: 'Never takes stock below zero (409 insufficient_stock). Audited.',
      params: IdParams,
      body: AdjustStockBody,
      response: { 201: AdjustmentResponse },
    },
    handler: async (req, reply) => reply.code(201).send(await inventory.adjustStock(scopeOf(req), req.params.id, req.body)),
  });

  r.get('/v1/low-stock-alerts', {
    config: { access: { permission: 'inventory.read', branch: 'list' } },
    schema: { tags, summary: 'Low-stock alerts, newest first', querystring: ListAlertsQuery, response: { 200: LowStockAlertPage } },
    handler: async (req) => inventory.listLowStockAlerts(scopeOf(req), req.query),
  });
}
