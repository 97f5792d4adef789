import type { Grants, RoleAssignment } from '../../modules/access/grants.ts';

/**
 * Who is acting, established from the bearer token alone. The tenant comes from the session,
 * never from the request. Business code takes `scope` as its first parameter.
 */
export interface Scope {
  tenantId: string;
  userId: string;
  sessionId: string;
  /**
   * Set when an integration's API key made the request: `userId` and `user` are then the
   * member who created the key (its authority's ceiling), and the audit trail names the key.
   */
  apiKey: { id: string; name: string } | null;
  user: { id: string; name: string; email: string };
  tenant: { id: string; name: string; slug: string; currency: string; timezone: string };
  roles: RoleAssignment[];
  grants: Grants;
  /** Where the request came from, for the audit trail. */
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

export interface OperatorScope {
  operatorId: string;
  email: string;
  name: string;
  sessionId: string;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}
