import { api, ok } from '../api/client';
import { useLive } from './live';

/** The plan catalogue (names and limits), fetched once per page: usage is shown against it. */
export function usePlans() {
  return useLive(() => ok(api.GET('/ops/api/billing/plans')), 'plans', 0);
}
export type Plans = NonNullable<ReturnType<typeof usePlans>['data']>;

export const limitsOf = (plans: Plans | undefined, plan: string | null) => plans?.data.find((p) => p.key === plan)?.limits;
/** The plan's name as the business sees it ("Free trial"), its key until the catalogue is in. */
export const planName = (plans: Plans | undefined, plan: string | null) => plans?.data.find((p) => p.key === plan)?.name ?? plan ?? '—';
