/**
 * Poisson tails: how surprising a count is against what was expected. Used so that a rule
 * fires on evidence, not on small numbers (two errors out of three requests are no incident,
 * and neither is a quiet minute of a quiet tenant).
 */
function logFactorial(n: number): number {
  // Stirling with two correction terms: exact enough for tails beyond n = 20.
  if (n < 20) {
    let s = 0;
    for (let i = 2; i <= n; i++) s += Math.log(i);
    return s;
  }
  return n * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI * n) + 1 / (12 * n) - 1 / (360 * n ** 3);
}

const logPmf = (k: number, lambda: number) => (lambda === 0 ? (k === 0 ? 0 : -Infinity) : k * Math.log(lambda) - lambda - logFactorial(k));

/** P(X >= k) for X ~ Poisson(lambda). */
export function poissonUpper(k: number, lambda: number): number {
  k = Math.ceil(k);
  if (k <= 0) return 1;
  if (lambda <= 0) return 0;
  if (k <= lambda) return 1 - poissonLower(k - 1, lambda);
  // Terms fall from k upward: sum until they no longer matter.
  let sum = 0;
  let term = logPmf(k, lambda);
  for (let i = k; i < k + 10_000; i++) {
    const p = Math.exp(term);
    sum += p;
    if (p < sum * 1e-12) break;
    term += Math.log(lambda) - Math.log(i + 1);
  }
  return Math.min(1, sum);
}

/** P(X <= k) for X ~ Poisson(lambda). */
export function poissonLower(k: number, lambda: number): number {
  k = Math.floor(k);
  if (k < 0) return 0;
  if (lambda <= 0) return 1;
  if (k >= lambda) return 1 - poissonUpper(k + 1, lambda);
  let sum = 0;
  let term = logPmf(k, lambda);
  for (let i = k; i >= 0; i--) {
    const p = Math.exp(term);
    sum += p;
    if (p < sum * 1e-12) break;
    term += Math.log(i) - Math.log(lambda);
  }
  return Math.min(1, sum);
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
