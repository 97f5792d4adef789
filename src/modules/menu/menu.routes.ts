import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { scopeOf } from '../access/index.ts';
import { IdParams } from '../../platform/http/schemas.ts';
import { CreateMenuItemBody, UpdateMenuItemBody, ListMenuItemsQuery, MenuItemResponse, MenuItemPage } from './menu.schemas.ts';
import type { MenuService } from './menu.service.ts';

export async function menuRoutes(app: FastifyInstance, opts: { menu: MenuService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { menu } = opts;
  const tags = ['menu'];

  r.get('/v1/menu-items', {
    config: { access: { permission: 'menu.read', branch: 'list' } },
    schema: { tags, summary: 'The menu', querystring: ListMenuItemsQuery, response: { 200: MenuItemPage } },
    handler: async (req) => menu.listMenuItems(scopeOf(req), req.query),
  });

  r.post('/v1/menu-items', {
    config: { access: { permission: 'menu.manage', branch: 'tenant' }, idempotent: true },
    schema: { tags, summary: 'Add a menu item', body: CreateMenuItemBody, response: { 201: MenuItemResponse } },
    handler: async (req, reply) => reply.code(201).send({ menuItem: await menu.createMenuItem(scopeOf(req), req.body) }),
  });

  r.get('/v1/menu-items/:id', {
    config: { access: { permission: 'menu.read', branch: 'list' } },
    schema: { tags, summary: 'One menu item', params: IdParams, response: { 200: MenuItemResponse } },
    handler: async (req) => ({ menuItem: await menu.getMenuItem(scopeOf(req), req.params.id) }),
  });

  // Branch managers reach this too: the service asks for the business-wide grant for what is
  // shared by all branches, and the branch grant for availability in one branch.
  r.patch('/v1/menu-items/:id', {
    config: { access: { action: 'menu.manage', branch: 'list' } },
    schema: {
      tags,
      summary: 'Change a menu item: name, category, price (audited), recipe or per-branch availability',
      params: IdParams,
      body: UpdateMenuItemBody,
      response: { 200: MenuItemResponse },
    },
    handler: async (req) => ({ menuItem: await menu.updateMenuItem(scopeOf(req), req.params.id, req.body) }),
  });

  r.delete('/v1/menu-items/:id', {
    config: { access: { permission: 'menu.manage', branch: 'tenant' } },
    schema: { tags, summary: 'Take an item off the menu (archived; past orders keep it)', params: IdParams, response: { 200: MenuItemResponse } },
    handler: async (req) => ({ menuItem: await menu.archiveMenuItem(scopeOf(req), req.params.id) }),
  });
}
