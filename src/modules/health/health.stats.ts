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

/** ln Γ(x) for x > 0 (Lanczos, g = 7): about 15 digits. */
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}
const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

/**
 * P(X <= k) for X negative binomial with mean `mu` and variance mu + phi·mu² (a Poisson whose
 * rate varies from day to day with a squared coefficient of variation `phi`); phi = 0 is Poisson.
 * Below the mean terms fall from k downward (the error-rate rule reaches it through negBinomialUpper).
 */
export function negBinomialLower(k: number, mu: number, phi: number): number {
  if (phi <= 0) return poissonLower(k, mu);
  k = Math.floor(k);
  if (k < 0) return 0;
  if (mu <= 0) return 1;
  const r = 1 / phi;
  const lq = Math.log(mu / (r + mu));
  const lp = Math.log(r / (r + mu));
  const logPmf = (x: number) => logGamma(x + r) - logGamma(r) - logGamma(x + 1) + r * lp + x * lq;
  if (k >= mu) {
    // Not a lower tail: sum up from zero (only small k get here in practice).
    let s = 0;
    for (let x = 0; x <= k; x++) s += Math.exp(logPmf(x));
    return Math.min(1, s);
  }
  let sum = 0;
  let term = logPmf(k);
  for (let x = k; x >= 0; x--) {
    const p = Math.exp(term);
    sum += p;
    if (p < sum * 1e-12) break;
    // pmf(x-1) / pmf(x) = x / ((x - 1 + r)·q)
    term += Math.log(x) - Math.log(x - 1 + r) - lq;
  }
  return Math.min(1, sum);
}

/** P(X >= k) for X negative binomial with mean `mu` and variance mu + phi·mu²; phi = 0 is Poisson. */
export function negBinomialUpper(k: number, mu: number, phi: number): number {
  if (phi <= 0) return poissonUpper(k, mu);
  k = Math.ceil(k);
  if (k <= 0) return 1;
  if (mu <= 0) return 0;
  if (k <= mu) return 1 - negBinomialLower(k - 1, mu, phi);
  const r = 1 / phi;
  const lq = Math.log(mu / (r + mu));
  const lp = Math.log(r / (r + mu));
  // Above the mean (and so the mode) terms fall from k upward: pmf(x+1) / pmf(x) = (x + r)·q / (x + 1).
  let term = logGamma(k + r) - logGamma(r) - logGamma(k + 1) + r * lp + k * lq;
  let sum = 0;
  for (let x = k; x < k + 100_000; x++) {
    const p = Math.exp(term);
    sum += p;
    if (p < sum * 1e-12) break;
    term += Math.log(x + r) + lq - Math.log(x + 1);
  }
  return Math.min(1, sum);
}
