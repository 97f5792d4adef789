import type { ColumnType, Generated } from 'kysely';

/**
 * The Kysely view of the database. Each module adds its own tables by declaration merging
 * (`declare module '.../platform/db/schema.ts' { interface Database { ... } }`) in its
 * repository file, so the tables live beside the code that owns them.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  branches: BranchesTable;
  role_assignments: RoleAssignmentsTable;
  custom_roles: CustomRolesTable;
  sessions: SessionsTable;
  operators: OperatorsTable;
  operator_sessions: OperatorSessionsTable;
  audit_events: AuditEventsTable;
  audit_heads: AuditHeadsTable;
  outbox: OutboxTable;
  idempotency_keys: IdempotencyKeysTable;
  anonymous_idempotency_keys: AnonymousIdempotencyKeysTable;
  tenant_deletions: TenantDeletionsTable;
}

/**
 * What outlives a deleted business (lifecycle module): platform code reads it too, since no
 * tenant row may be written once a business's deletion has started.
 */
export interface TenantDeletionsTable {
  tenant_id: string;
  tenant_name: string;
  tenant_slug: string;
  reason: string;
  requested_by: string;
  started_at: Generated<Date>;
  finished_at: Date | null;
  row_counts: ColumnType<Record<string, number>, string, string>;
  audit_head: ColumnType<{ seq: string; hash: string }, string, string>;
}

export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
export type Json = ColumnType<unknown, string, string>;

export interface TenantsTable {
  id: string;
  name: string;
  slug: string;
  currency: string;
  timezone: string;
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Generated<Date>;
}

export interface UsersTable {
  tenant_id: string;
  id: Generated<string>;
  email: string;
  name: string;
  password_hash: string | null;
  status: ColumnType<'active' | 'invited' | 'removed', 'active' | 'invited' | 'removed' | undefined, 'active' | 'invited' | 'removed'>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface BranchesTable {
  tenant_id: string;
  id: Generated<string>;
  name: string;
  address: string | null;
  timezone: string;
  archived_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: Generated<Date>;
}

export interface RoleAssignmentsTable {
  tenant_id: string;
  id: Generated<string>;
  user_id: string;
  role_key: string;
  branch_id: string | null;
  created_at: Generated<Date>;
}

export interface CustomRolesTable {
  tenant_id: string;
  key: string;
  name: string;
  description: string;
  permissions: string[];
  created_at: Generated<Date>;
}

export interface SessionsTable {
  tenant_id: string;
  id: Generated<string>;
  user_id: string;
  token_hash: string;
  created_at: Generated<Date>;
  expires_at: Date;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  ip: string | null;
  user_agent: string | null;
}

export interface OperatorsTable {
  id: Generated<string>;
  email: string;
  name: string;
  password_hash: string;
  created_at: Generated<Date>;
  disabled_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface OperatorSessionsTable {
  id: Generated<string>;
  operator_id: string;
  token_hash: string;
  created_at: Generated<Date>;
  expires_at: Date;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

/** Who an audit event is about acting: a member, an operator, Brigade itself, or an integration's API key. */
export type AuditActorType = 'user' | 'operator' | 'system' | 'api_key';

export interface AuditEventsTable {
  tenant_id: string;
  id: Generated<string>;
  seq: string;
  at: Date;
  actor_type: AuditActorType;
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  permission: string | null;
  target_type: string | null;
  target_id: string | null;
  changes: ColumnType<Record<string, unknown>, string, never>;
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  prev_hash: string;
  hash: string;
}

export interface AuditHeadsTable {
  tenant_id: string;
  seq: string;
  hash: string;
}

export interface OutboxTable {
  tenant_id: string;
  id: Generated<string>;
  type: string;
  payload: ColumnType<Record<string, unknown>, string, string>;
  run_at: Timestamp;
  created_at: Generated<Date>;
  relayed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Set when the job's completion or death is recorded: until then the outbox is the truth. */
  finished_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface IdempotencyKeysTable {
  tenant_id: string;
  key: string;
  user_id: string;
  request_hash: string;
  status_code: number | null;
  response_body: ColumnType<unknown, string | null, string | null>;
  created_at: Generated<Date>;
  expires_at: Date;
}

export interface AnonymousIdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number;
  response_body: ColumnType<unknown, string, string>;
  created_at: Generated<Date>;
  expires_at: Date;
}
