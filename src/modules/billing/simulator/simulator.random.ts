/**
 * A small seeded pseudo-random generator (mulberry32). Fault decisions draw from it so that a
 * test run with the same seed and the same sequence of API calls makes the same decisions.
 */
export interface SeededRandom {
  /** A number in [0, 1). */
  next(): number;
  /** True with probability `rate` (0..1). Always draws one number, whatever the rate. */
  chance(rate: number): boolean;
  /** Fisher-Yates shuffle, in place. */
  shuffle<T>(items: T[]): T[];
}

export function createSeededRandom(seed: number): SeededRandom {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    chance(rate) {
      return next() < rate;
    },
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [items[i], items[j]] = [items[j] as (typeof items)[number], items[i] as (typeof items)[number]];
      }
      return items;
    },
  };
}

/**
 * Independent streams from one seed, so that (for example) adding a declined charge does not
 * shift every later webhook decision.
 */
export function deriveSeed(seed: number, stream: 'deliveries' | 'charges'): number {
  const salt = stream === 'deliveries' ? 0x9e3779b9 : 0x85ebca6b;
  return (Math.imul(seed ^ salt, 0xc2b2ae35) ^ (seed >>> 13)) >>> 0;
}
