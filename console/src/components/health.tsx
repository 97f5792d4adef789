import { useMemo } from 'preact/hooks';
import { TimeChart } from './chart';

type Point = { at: string; requests: number; errorRate: number; p95Ms: number | null };
type Expected = { at: string; requests: number | null; errorRate: number; p95Ms: number | null };

/** The ranges an operator picks from; `since` is the start of the window that an alert opened in. */
export const ranges = { '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type RangeName = keyof typeof ranges;
export function rangeQuery(range: RangeName, end = Date.now()) {
  return { from: new Date(end - ranges[range]).toISOString(), to: new Date(end).toISOString() };
}

export type Measure = 'requests' | 'errorRate' | 'p95';
const measures: Record<Measure, { title: string; value(p: Point): number | null; expected(b: Expected): number | null; scale: number; unit: string; color: string }> = {
  requests: { title: 'Requests', value: (p) => p.requests, expected: (b) => b.requests, scale: 1, unit: '', color: '#1d4ed8' },
  errorRate: { title: 'Error rate (5xx)', value: (p) => p.errorRate, expected: (b) => b.errorRate, scale: 100, unit: '%', color: '#b91c1c' },
  p95: { title: 'p95 latency', value: (p) => p.p95Ms, expected: (b) => b.p95Ms, scale: 1, unit: 'ms', color: '#7c3aed' },
};

/** Which measure an alert's rule is about, for its evidence chart. */
export function measureOfRule(rule: string): Measure {
  if (rule.includes('latency') || rule.includes('p95')) return 'p95';
  if (rule.includes('error')) return 'errorRate';
  return 'requests';
}

/**
 * Observed signals beside their own baseline (dashed): requests, the 5xx rate and p95, one chart
 * each so the scales stay readable. The baseline is what this business (or the platform) usually
 * does at this hour of the week.
 */
export function HealthCharts({ data, only, who }: { data: { step: string; series: Point[]; baseline: Expected[] }; only?: Measure; who: string }) {
  const charts = useMemo(() => {
    const expected = new Map(data.baseline.map((b) => [b.at, b]));
    const times = data.series.map((p) => new Date(p.at).getTime());
    return (Object.keys(measures) as Measure[])
      .filter((m) => !only || m === only)
      .map((m) => {
        const def = measures[m];
        const scaled = (v: number | null) => (v === null ? null : v * def.scale);
        return {
          key: m,
          title: def.title,
          unit: def.unit,
          times,
          series: [
            { label: def.unit ? `${def.title} (${def.unit})` : def.title, values: data.series.map((p) => scaled(def.value(p))), color: def.color },
            {
              label: 'usual (baseline)',
              values: data.series.map((p) => {
                const b = expected.get(p.at);
                return b ? scaled(def.expected(b)) : null;
              }),
              color: '#4b5563',
              dashed: true,
            },
          ],
        };
      });
  }, [data, only]);
  return (
    <div class={only ? undefined : 'chart-grid'}>
      {charts.map((c) => (
        <figure key={c.key} class="chart-figure">
          <figcaption>
            {c.title} <span class="muted">per {data.step}, dashed: usual</span>
          </figcaption>
          <TimeChart times={c.times} series={c.series} height={160} label={`${c.title} of ${who} per ${data.step}, beside its usual level`} />
        </figure>
      ))}
    </div>
  );
}
