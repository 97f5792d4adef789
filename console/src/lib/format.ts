/** Times in the operator's own zone, with their age; durations and counts for people. */
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const dateTime = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const number = new Intl.NumberFormat();

export const operatorZone = zone;

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return dateTime.format(new Date(iso));
}

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return relative.format(seconds, 'second');
  if (abs < 45 * 60) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 22 * 3600) return relative.format(Math.round(seconds / 3600), 'hour');
  return relative.format(Math.round(seconds / 86400), 'day');
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3600_000)} h ${Math.round((ms % 3600_000) / 60_000)} min`;
}

export const count = (n: number) => number.format(n);
export const shortId = (id: string) => (id.length > 12 ? `${id.slice(0, 8)}…` : id);

/** <input type="datetime-local"> value (operator's zone) ⇄ ISO instant. */
export function localInputToIso(value: string): string | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
export function isoToLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A share (0..1) as a percentage people read: 0.4 %, 12 %, 100 %. */
export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined) return '—';
  const p = share * 100;
  if (p === 0) return '0 %';
  if (p < 0.1) return '< 0.1 %';
  return `${p < 10 ? p.toFixed(1) : Math.round(p)} %`;
}

export const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${Math.round(v)} ms`);

/** Who did it, as people say it: `operator:olga@…` is olga@…; `system` and `cli:…` as they are. */
export const actor = (by: string | null | undefined) => (by ? by.replace(/^operator:/, '') : 'someone');

/** A status or state key in words: past_due is "past due". */
export const words = (key: string) => key.replaceAll('_', ' ');
