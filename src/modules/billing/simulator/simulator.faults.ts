/**
 * Faults the simulator injects on demand, set at start (`faults` option), at runtime through
 * `setFaults()` or `POST /_sim/faults`. Setting faults replaces the whole set: omitted fields
 * fall back to "no fault". Every probabilistic decision draws from a generator seeded by `seed`.
 */
export interface SimulatorFaults {
  /** 0..1: chance that an event is delivered twice (same id, same payload). */
  duplicateRate: number;
  /** 0..1: chance that a delivery is held back, then released shuffled with the other held ones. */
  reorderRate: number;
  /** Held deliveries are released, in random order, once this many are held (and on flush). */
  reorderBatchSize: number;
  /** 0..1: chance that an event is never delivered; it is still listed by `GET /v1/events`. */
  dropRate: number;
  /** 0..1: chance that a delivery waits `delayMs` before it is sent (1 when only delayMs is given). */
  delayRate: number;
  delayMs: number;
  /** 0..1: chance that a charge is declined whatever the card. */
  declineRate: number;
  /** A window in which every `/v1` request fails; null when the API is up. */
  outage: OutageWindow | null;
}

export interface OutageWindow {
  /** `unavailable`: 503 with an api_error body. `reset`: the connection is destroyed unanswered. */
  mode: 'unavailable' | 'reset';
  /** Requests left to fail; null for a time-only window. */
  remainingRequests: number | null;
  /** Epoch milliseconds at which the outage ends; null for a count-only window. */
  untilMs: number | null;
}

/** What callers send: the same fields, all optional; an outage as a count and/or a duration. */
export interface FaultsInput {
  duplicateRate?: number;
  reorderRate?: number;
  reorderBatchSize?: number;
  dropRate?: number;
  delayRate?: number;
  delayMs?: number;
  declineRate?: number;
  outage?: { mode?: 'unavailable' | 'reset'; requests?: number; durationMs?: number } | null;
  /** Reseeds the fault generators, so a run can be replayed from this point. */
  seed?: number;
}

export const noFaults: SimulatorFaults = {
  duplicateRate: 0,
  reorderRate: 0,
  reorderBatchSize: 10,
  dropRate: 0,
  delayRate: 0,
  delayMs: 0,
  declineRate: 0,
  outage: null,
};

export class FaultsInputError extends Error {}

export function parseFaults(input: unknown, nowMs: number): { faults: SimulatorFaults; seed: number | undefined } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new FaultsInputError('faults must be a JSON object');
  const raw = input as Record<string, unknown>;
  const known = new Set(['duplicateRate', 'reorderRate', 'reorderBatchSize', 'dropRate', 'delayRate', 'delayMs', 'declineRate', 'outage', 'seed']);
  for (const key of Object.keys(raw)) if (!known.has(key)) throw new FaultsInputError(`unknown fault: ${key}`);

  const rate = (key: string): number => {
    const value = raw[key] ?? 0;
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new FaultsInputError(`${key} must be a number from 0 to 1`);
    return value;
  };
  const whole = (key: string, fallback: number, min: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new FaultsInputError(`${key} must be an integer of at least ${min}`);
    return value;
  };

  const delayMs = whole('delayMs', 0, 0);
  const faults: SimulatorFaults = {
    duplicateRate: rate('duplicateRate'),
    reorderRate: rate('reorderRate'),
    reorderBatchSize: whole('reorderBatchSize', noFaults.reorderBatchSize, 2),
    dropRate: rate('dropRate'),
    delayRate: raw.delayRate === undefined ? (delayMs > 0 ? 1 : 0) : rate('delayRate'),
    delayMs,
    declineRate: rate('declineRate'),
    outage: parseOutage(raw.outage, nowMs),
  };
  const seed = raw.seed === undefined ? undefined : whole('seed', 0, 0);
  return { faults, seed };
}

function parseOutage(value: unknown, nowMs: number): OutageWindow | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new FaultsInputError('outage must be an object or null');
  const { mode = 'unavailable', requests, durationMs, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new FaultsInputError(`unknown outage field: ${Object.keys(rest)[0]}`);
  if (mode !== 'unavailable' && mode !== 'reset') throw new FaultsInputError('outage.mode must be "unavailable" or "reset"');
  const positive = (v: unknown, name: string): number | null => {
    if (v === undefined) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new FaultsInputError(`outage.${name} must be a positive integer`);
    return v;
  };
  const remainingRequests = positive(requests, 'requests');
  const duration = positive(durationMs, 'durationMs');
  if (remainingRequests === null && duration === null) throw new FaultsInputError('outage needs requests or durationMs');
  return { mode, remainingRequests, untilMs: duration === null ? null : nowMs + duration };
}

/**
 * Whether this `/v1` request falls in the outage, counting it against a request-limited window.
 * A window ends when either of its limits is reached.
 */
export function takeOutage(faults: SimulatorFaults, nowMs: number): OutageWindow['mode'] | null {
  const outage = faults.outage;
  if (!outage) return null;
  const expired = (outage.untilMs !== null && nowMs >= outage.untilMs) || (outage.remainingRequests !== null && outage.remainingRequests <= 0);
  if (expired) {
    faults.outage = null;
    return null;
  }
  if (outage.remainingRequests !== null) outage.remainingRequests -= 1;
  return outage.mode;
}
