/**
 * The subscription's life, as Brigade holds it. The payment provider knows fewer states
 * (Stripe: trialing, active, past_due, unpaid, paused, canceled, ...); grace, suspended and
 * expired are Brigade's refinements of them, decided by our clock and the business's history.
 *
 *   trialing ──paid──▶ active ──payment fails──▶ past_due ──N days──▶ suspended
 *      │                  ▲ ▲                        │                   │
 *      │ trial ends       │ └──────── paid ──────────┘                   │
 *      │ unpaid           └──────────────── paid ───────────────────────┤
 *      ▼                                                                 ▼
 *    grace ──N days──▶ suspended ──provider gives up──▶ expired / canceled ──retention──▶ (data removed)
 *
 * Anything not listed below is refused, logged and raised as an alert: a refusal means Brigade
 * and the provider disagree about history, which a person should look at.
 */
export const subscriptionStatuses = ['trialing', 'active', 'past_due', 'grace', 'suspended', 'canceled', 'expired'] as const;
export type SubscriptionStatus = (typeof subscriptionStatuses)[number];

export const allowedTransitions: Record<SubscriptionStatus, readonly SubscriptionStatus[]> = {
  // Converted, ended unpaid, payment failed at conversion, canceled by the business, or ended
  // by the provider before a grace period could start.
  trialing: ['active', 'grace', 'past_due', 'canceled', 'expired'],
  active: ['past_due', 'canceled'],
  past_due: ['active', 'suspended', 'canceled'],
  grace: ['active', 'suspended', 'canceled', 'expired'],
  suspended: ['active', 'canceled', 'expired'],
  // A new subscription brings an ended business back.
  canceled: ['active'],
  expired: ['active'],
};

export function isSubscriptionStatus(value: string): value is SubscriptionStatus {
  return (subscriptionStatuses as readonly string[]).includes(value);
}

export function canTransition(from: SubscriptionStatus, to: SubscriptionStatus): boolean {
  return allowedTransitions[from].includes(to);
}

/**
 * The shortest chain of allowed transitions from `from` to `to` (excluding `from`), or null
 * when there is none. A repair from the provider's truth walks it, so history shows every step
 * (trialing → grace → suspended when the trial's end and the grace period were both missed).
 */
export function transitionPath(from: SubscriptionStatus, to: SubscriptionStatus): SubscriptionStatus[] | null {
  if (from === to) return [];
  const previous = new Map<SubscriptionStatus, SubscriptionStatus>();
  const queue: SubscriptionStatus[] = [from];
  while (queue.length > 0) {
    const at = queue.shift()!;
    for (const next of allowedTransitions[at]) {
      if (next === from || previous.has(next)) continue;
      previous.set(next, at);
      if (next === to) {
        const path: SubscriptionStatus[] = [to];
        for (let step = at; step !== from; step = previous.get(step)!) path.unshift(step);
        return path;
      }
      queue.push(next);
    }
  }
  return null;
}

export interface StatusRules {
  /** full: reads and writes; read_only: reads, and billing to put things right. */
  access: 'full' | 'read_only';
  /** Whether the plan's features and limits apply (read-only states keep them for reads). */
  live: boolean;
}

export const statusRules: Record<SubscriptionStatus, StatusRules> = {
  trialing: { access: 'full', live: true },
  active: { access: 'full', live: true },
  past_due: { access: 'full', live: true },
  grace: { access: 'full', live: true },
  suspended: { access: 'read_only', live: false },
  canceled: { access: 'read_only', live: false },
  expired: { access: 'read_only', live: false },
};
