import Stripe from 'stripe';
import { newId, type EventObject, type SimulatorState, type Unix } from './simulator.state.ts';

/** The API version the simulator's objects and events follow: the installed SDK's. */
export const simulatedApiVersion: string = Stripe.API_VERSION;

export type EventType =
  | 'customer.created'
  | 'customer.updated'
  | 'payment_method.attached'
  | 'payment_method.detached'
  | 'customer.subscription.created'
  | 'customer.subscription.updated'
  | 'customer.subscription.deleted'
  | 'customer.subscription.trial_will_end'
  | 'customer.subscription.paused'
  | 'customer.subscription.resumed'
  | 'invoice.created'
  | 'invoice.finalized'
  | 'invoice.paid'
  | 'invoice.payment_succeeded'
  | 'invoice.payment_failed'
  | 'invoice.voided'
  | 'checkout.session.completed'
  | 'checkout.session.expired'
  | 'test_helpers.test_clock.created'
  | 'test_helpers.test_clock.advancing'
  | 'test_helpers.test_clock.ready';

export interface EventRequestContext {
  id: string | null;
  idempotency_key: string | null;
}

export interface EventRecorder {
  /**
   * Records an event whose `data.object` is a deep copy of `object` as it is now, so later
   * changes never leak into earlier events. `at` is the object's clock time (the test clock's
   * frozen time for objects on a clock), which is also the event's `created`.
   */
  record(type: EventType, object: object, at: Unix, previousAttributes?: Record<string, unknown>): EventObject;
  /** Runs `fn` with the API request that caused the events it records. */
  withRequest<T>(request: EventRequestContext, fn: () => T): T;
}

export function createEventRecorder(state: SimulatorState, onRecorded: (event: EventObject) => void): EventRecorder {
  let request: EventRequestContext = { id: null, idempotency_key: null };
  return {
    record(type, object, at, previousAttributes) {
      const event: EventObject = {
        id: newId('evt'),
        object: 'event',
        api_version: simulatedApiVersion,
        created: at,
        data: {
          object: structuredClone(object) as Record<string, unknown>,
          ...(previousAttributes && Object.keys(previousAttributes).length > 0 ? { previous_attributes: previousAttributes } : {}),
        },
        livemode: false,
        pending_webhooks: 0,
        request: { ...request },
        type,
      };
      state.data.events.push(event);
      onRecorded(event);
      return event;
    },
    withRequest(context, fn) {
      const previous = request;
      request = context;
      try {
        return fn();
      } finally {
        request = previous;
      }
    },
  };
}

/**
 * Stripe's `previous_attributes`: the earlier values of the top-level fields that changed.
 * Takes a snapshot before a change and returns the diff against the object after it.
 */
export function changeTracker<T extends object>(object: T): () => Record<string, unknown> {
  const before = structuredClone(object) as Record<string, unknown>;
  return () => {
    const previous: Record<string, unknown> = {};
    const after = object as Record<string, unknown>;
    for (const key of Object.keys(after)) {
      if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) previous[key] = before[key] ?? null;
    }
    return previous;
  };
}
