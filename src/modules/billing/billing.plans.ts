/**
 * What each plan gives. Features are switches; limits are counts (null: unlimited). The paid
 * plans' keys are also the `lookup_key`s of their prices at the payment provider, which is how
 * a provider subscription names its plan.
 */
export const features = {
  'reports.export': 'Download reports and exports',
  scheduled_reports: 'Reports mailed on a schedule',
  multi_branch: 'More than one branch',
  api_access: 'API tokens for integrations',
  custom_roles: 'Roles of your own design',
  audit_export: 'Export of the audit log',
  priority_support: 'Support answered first',
} as const;

export type Feature = keyof typeof features;

export const limitNames = ['branches', 'members', 'ordersPerMonth', 'scheduledReports', 'apiRatePerSecond'] as const;
export type LimitName = (typeof limitNames)[number];
/** The limits counted against usage; apiRatePerSecond is a rate, enforced by the rate limiter. */
export const countedLimits = ['branches', 'members', 'ordersPerMonth', 'scheduledReports'] as const;
export type CountedLimit = (typeof countedLimits)[number];

export type Limits = Record<LimitName, number | null>;

export interface Plan {
  key: PlanKey;
  name: string;
  /** Per month, in minor units of `currency`; 0 for the trial. */
  priceMinor: number;
  currency: string;
  paid: boolean;
  features: readonly Feature[];
  limits: Limits;
}

const everyFeature = Object.keys(features) as Feature[];

export const plans = {
  trial: {
    key: 'trial',
    name: 'Free trial',
    priceMinor: 0,
    currency: 'EUR',
    paid: false,
    // A trial lets a business try everything but the support contract.
    features: ['reports.export', 'scheduled_reports', 'multi_branch', 'api_access', 'custom_roles', 'audit_export'],
    limits: { branches: 3, members: 10, ordersPerMonth: 2_000, scheduledReports: 2, apiRatePerSecond: 20 },
  },
  starter: {
    key: 'starter',
    name: 'Starter',
    priceMinor: 2_900,
    currency: 'EUR',
    paid: true,
    features: [],
    limits: { branches: 1, members: 5, ordersPerMonth: 3_000, scheduledReports: 0, apiRatePerSecond: 20 },
  },
  pro: {
    key: 'pro',
    name: 'Pro',
    priceMinor: 7_900,
    currency: 'EUR',
    paid: true,
    features: ['reports.export', 'scheduled_reports', 'multi_branch', 'api_access', 'custom_roles'],
    limits: { branches: 10, members: 50, ordersPerMonth: 50_000, scheduledReports: 10, apiRatePerSecond: 50 },
  },
  enterprise: {
    key: 'enterprise',
    name: 'Enterprise',
    priceMinor: 24_900,
    currency: 'EUR',
    paid: true,
    features: everyFeature,
    // No rate of its own: the platform's ceiling (BRIGADE_TENANT_RATE_LIMIT) applies.
    limits: { branches: null, members: null, ordersPerMonth: null, scheduledReports: null, apiRatePerSecond: null },
  },
} as const satisfies Record<string, Omit<Plan, 'key'> & { key: string }>;

export type PlanKey = keyof typeof plans;
export type PaidPlanKey = Exclude<PlanKey, 'trial'>;

/** Cheapest first: the order in which an upgrade is suggested. */
export const paidPlans: PaidPlanKey[] = ['starter', 'pro', 'enterprise'];

/** A trial that runs out with a card on file converts to this plan unless another was chosen. */
export const defaultPaidPlan: PaidPlanKey = 'starter';

export function isPlanKey(value: string): value is PlanKey {
  return Object.hasOwn(plans, value);
}

export function isPaidPlanKey(value: string): value is PaidPlanKey {
  return (paidPlans as string[]).includes(value);
}

export function planOf(key: string): Plan {
  return (isPlanKey(key) ? plans[key] : plans.trial) as Plan;
}

export function hasFeature(plan: Plan, feature: string): boolean {
  return (plan.features as readonly string[]).includes(feature);
}

/** The cheapest paid plan that has the feature, or null when none does. */
export function upgradeForFeature(feature: string): PaidPlanKey | null {
  return paidPlans.find((key) => hasFeature(plans[key] as Plan, feature)) ?? null;
}

/** The cheapest paid plan that allows `needed` of this limit, or null when none does. */
export function upgradeForLimit(limit: LimitName, needed: number): PaidPlanKey | null {
  return (
    paidPlans.find((key) => {
      const allowed = (plans[key] as Plan).limits[limit];
      return allowed === null || allowed >= needed;
    }) ?? null
  );
}

/** The counted limits `usage` exceeds on `plan`, each with what is used and what is allowed. */
export function limitsExceeded(plan: Plan, usage: Record<CountedLimit, number>): { limit: CountedLimit; current: number; allowed: number }[] {
  return countedLimits.flatMap((limit) => {
    const allowed = plan.limits[limit];
    return allowed !== null && usage[limit] > allowed ? [{ limit, current: usage[limit], allowed }] : [];
  });
}
