import type { TestContext, Session } from './harness.ts';

/**
 * How to make, in tenant A, the resource a route with an id names, and a valid body for the
 * methods that need one (so the answer is about the id, not about validation).
 * The isolation suite fails for any tenant route with a path parameter that has no entry here:
 * a new route is covered the day it is added.
 */
export interface Prepared {
  params: Record<string, string>;
  bodies?: Partial<Record<'POST' | 'PUT' | 'PATCH' | 'DELETE', unknown>>;
}

export type Fixture = (t: TestContext, owner: Session) => Promise<Prepared>;

export const fixtures: Record<string, Fixture> = {};
