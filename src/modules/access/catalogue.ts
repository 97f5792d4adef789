/**
 * Every permission Brigade knows, and the system roles built from them. A permission is either
 * branch-level (a grant for one branch gives it in that branch) or tenant-level (only a
 * tenant-wide grant gives it: billing, roles, settings, the audit log).
 */
export interface PermissionInfo {
  description: string;
  /** Gerund phrase for explanations: "Refunding an order requires ..." */
  action: string;
  level: 'branch' | 'tenant';
}

export const permissions = {
  'orders.read': { level: 'branch', action: 'Viewing orders', description: 'See orders and their payments' },
  'orders.read_open': { level: 'branch', action: 'Viewing open orders', description: 'See the open orders of a branch (orders.read includes it)' },
  'orders.create': { level: 'branch', action: 'Creating an order', description: 'Open new orders' },
  'orders.pay': { level: 'branch', action: 'Taking a payment', description: 'Record payment of an open order' },
  'orders.refund': { level: 'branch', action: 'Refunding an order', description: 'Refund a paid order' },
  'orders.void': { level: 'branch', action: 'Voiding an order', description: 'Void an open order' },
  'menu.read': { level: 'branch', action: 'Viewing the menu', description: 'See menu items and prices' },
  'menu.manage': { level: 'branch', action: 'Changing the menu', description: 'Create menu items, change prices and recipes' },
  'inventory.read': { level: 'branch', action: 'Viewing stock', description: 'See inventory items and stock on hand' },
  'inventory.adjust': { level: 'branch', action: 'Adjusting stock', description: 'Record deliveries, waste and counts' },
  'branches.read': { level: 'branch', action: 'Viewing branches', description: 'See branches' },
  'branches.manage': { level: 'tenant', action: 'Managing branches', description: 'Open, rename and close branches' },
  'members.read': { level: 'branch', action: 'Viewing members', description: 'See the people of the business and their roles' },
  'members.manage': { level: 'branch', action: 'Managing members', description: 'Add, remove and change the roles of members' },
  'roles.manage': { level: 'tenant', action: 'Managing roles', description: 'Define custom roles and change anyone\'s roles' },
  'reports.view': { level: 'branch', action: 'Viewing reports', description: 'See sales reports' },
  'reports.export': { level: 'branch', action: 'Exporting reports', description: 'Download reports and exports' },
  'audit.read': { level: 'tenant', action: 'Reading the audit log', description: 'See who changed what' },
  'billing.read': { level: 'tenant', action: 'Viewing billing', description: 'See the plan, invoices and usage' },
  'billing.manage': { level: 'tenant', action: 'Managing billing', description: 'Change plan, payment method and cancellation' },
  'settings.manage': { level: 'tenant', action: 'Changing business settings', description: 'Change business-wide settings and grant support access' },
} as const satisfies Record<string, PermissionInfo>;

export type Permission = keyof typeof permissions;

export const allPermissions = Object.keys(permissions) as Permission[];

export function isPermission(value: string): value is Permission {
  return Object.hasOwn(permissions, value);
}

export interface SystemRole {
  key: string;
  name: string;
  /** Plural noun for sentences: "which cashiers do not have". */
  plural: string;
  description: string;
  permissions: readonly Permission[];
}

export const systemRoles = {
  owner: {
    key: 'owner',
    name: 'Owner',
    plural: 'owners',
    description: 'Runs the business: everything, including billing, roles and members.',
    permissions: allPermissions,
  },
  branch_manager: {
    key: 'branch_manager',
    name: 'Branch manager',
    plural: 'branch managers',
    description: 'Runs one branch: its orders, stock, menu, reports and cashiers.',
    permissions: [
      'orders.read', 'orders.create', 'orders.pay', 'orders.refund', 'orders.void',
      'inventory.read', 'inventory.adjust', 'menu.read', 'menu.manage',
      'reports.view', 'members.read', 'members.manage', 'branches.read',
    ],
  },
  accountant: {
    key: 'accountant',
    name: 'Accountant',
    plural: 'accountants',
    description: 'Keeps the books: reads orders, all reports, the audit log and billing.',
    permissions: ['orders.read', 'menu.read', 'branches.read', 'reports.view', 'reports.export', 'audit.read', 'billing.read'],
  },
  cashier: {
    key: 'cashier',
    name: 'Cashier',
    plural: 'cashiers',
    description: 'Serves customers: reads the menu, creates and takes payment for orders in their branch.',
    // The contract: their branch's open orders, not its history.
    permissions: ['menu.read', 'orders.read_open', 'orders.create', 'orders.pay', 'branches.read'],
  },
  support: {
    key: 'support',
    name: 'Support',
    plural: 'support staff',
    description: 'Helps customers: reads orders, the menu, stock and members, and changes nothing.',
    permissions: ['orders.read', 'menu.read', 'inventory.read', 'members.read', 'branches.read'],
  },
} as const satisfies Record<string, SystemRole>;

export type SystemRoleKey = keyof typeof systemRoles;

export function isSystemRole(key: string): key is SystemRoleKey {
  return Object.hasOwn(systemRoles, key);
}

/**
 * The user-facing actions a UI shows, disables or explains. One source for both sides: a route
 * that performs an action declares `access: { action }` and gets its permission from here, and
 * `GET /v1/me/permissions` answers from the same table, so the manifest cannot drift from
 * enforcement. `where` says how a grant counts: 'tenant' needs a tenant-wide grant; 'branch'
 * is allowed wherever the permission is held (the request's branch is then checked exactly).
 */
export interface ActionInfo {
  permission: Permission;
  where: 'tenant' | 'branch';
  label: string;
}

export const actions = {
  'orders.create': { permission: 'orders.create', where: 'branch', label: 'Create an order' },
  'orders.pay': { permission: 'orders.pay', where: 'branch', label: 'Take a payment' },
  'orders.refund': { permission: 'orders.refund', where: 'branch', label: 'Refund an order' },
  'orders.void': { permission: 'orders.void', where: 'branch', label: 'Void an order' },
  'inventory.adjust': { permission: 'inventory.adjust', where: 'branch', label: 'Adjust stock' },
  'menu.manage': { permission: 'menu.manage', where: 'branch', label: 'Change the menu and prices' },
  'reports.view': { permission: 'reports.view', where: 'branch', label: 'View sales reports' },
  'reports.export': { permission: 'reports.export', where: 'branch', label: 'Export reports' },
  'branches.manage': { permission: 'branches.manage', where: 'tenant', label: 'Open, rename and close branches' },
  'members.read': { permission: 'members.read', where: 'branch', label: 'See members' },
  'members.manage': { permission: 'members.manage', where: 'branch', label: 'Add, change and remove members' },
  'roles.manage': { permission: 'roles.manage', where: 'tenant', label: 'Define roles and change anyone\'s roles' },
  'audit.read': { permission: 'audit.read', where: 'tenant', label: 'Read the audit log' },
  'audit.export': { permission: 'audit.read', where: 'tenant', label: 'Export the audit log' },
  'billing.read': { permission: 'billing.read', where: 'tenant', label: 'View billing' },
  'billing.manage': { permission: 'billing.manage', where: 'tenant', label: 'Change plan and payment details' },
  'support_access.manage': { permission: 'settings.manage', where: 'tenant', label: 'Grant and revoke support access' },
  'members.erase': { permission: 'settings.manage', where: 'tenant', label: 'Erase a member\'s personal data' },
  'tenant.export': { permission: 'settings.manage', where: 'tenant', label: 'Export all of the business\'s data' },
  'api_keys.manage': { permission: 'settings.manage', where: 'tenant', label: 'Create and revoke API keys for integrations' },
} as const satisfies Record<string, ActionInfo>;

export type Action = keyof typeof actions;

export const allActions = Object.keys(actions) as Action[];

export function isAction(value: string): value is Action {
  return Object.hasOwn(actions, value);
}

/**
 * Roles that members.manage in a branch lets a holder give, change and take away in that branch
 * without roles.manage: a branch manager staffs their own tills, nothing more.
 */
export const branchDelegableRoles: readonly SystemRoleKey[] = ['cashier'];
