import { CompiledQuery } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import { figureColumns, mergeOf, markDirty } from '../../platform/signals/index.ts';

/**
 * Minutes roll into hours and hours into days. Every flush marks the hours it touched (with a
 * new version); a complete hour (ended, plus the time a flush may take to land) is recomputed
 * from all its minutes and its mark removed only if nobody marked it again meanwhile, so a
 * late flush (a process that was cut off from the database) is rolled up again rather than
 * lost. Recomputing replaces the hour row: doing it twice counts nothing twice. Days follow
 * from hours the same way. Each grain is then expired by its own setting.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const columns = figureColumns.join(', ');
const sums = figureColumns.map((c) => `${mergeOf(c) === 'max' ? 'max' : 'sum'}(${c})`).join(', ');
const replace = figureColumns.map((c) => `${c} = excluded.${c}`).join(', ');

const rollTenants = (to: 'h' | 'd', from: 'm' | 'h') => `
  INSERT INTO tenant_signals (tenant_id, grain, at, ${columns})
  SELECT tenant_id, '${to}', $1, ${sums} FROM tenant_signals
  WHERE grain = '${from}' AND at >= $1 AND at < $2 GROUP BY tenant_id ORDER BY tenant_id
  ON CONFLICT (tenant_id, grain, at) DO UPDATE SET ${replace}`;

const rollPlatform = (to: 'h' | 'd', from: 'm' | 'h') => `
  INSERT INTO platform_signals (grain, at, ${columns})
  SELECT '${to}', $1, ${sums} FROM platform_signals WHERE grain = '${from}' AND at >= $1 AND at < $2
  HAVING count(*) > 0
  ON CONFLICT (grain, at) DO UPDATE SET ${replace}`;

export interface RollupSummary {
  hours: number;
  days: number;
  expired: Record<string, number>;
}

export async function rollUp(platform: Platform, now = new Date()): Promise<RollupSummary> {
  const { tenancy, config } = platform;
  // A flush may land this long after its minute ended.
  const settled = now.getTime() - config.BRIGADE_SIGNAL_FLUSH_MS - 10_000;
  const summary: RollupSummary = { hours: 0, days: 0, expired: {} };
  for (const [grain, span, from] of [['h', HOUR, 'm'], ['d', DAY, 'h']] as const) {
    const dirty = await tenancy.withSystem(`signals: ${grain === 'h' ? 'hours' : 'days'} to roll up`, (trx) =>
      trx
        .selectFrom('signal_dirty')
        .select(['at', 'version'])
        .where('grain', '=', grain)
        .where('at', '<=', new Date(settled - span))
        .orderBy('at')
        .limit(200)
        .execute(),
    );
    for (const d of dirty) {
      const end = new Date(d.at.getTime() + span);
      await tenancy.withSystem(`signals: roll up ${grain === 'h' ? 'an hour' : 'a day'}`, async (trx) => {
        await trx.executeQuery(CompiledQuery.raw(rollTenants(grain, from), [d.at, end]));
        await trx.executeQuery(CompiledQuery.raw(rollPlatform(grain, from), [d.at, end]));
        if (grain === 'h') await markDirty(trx, 'd', [new Date(Math.floor(d.at.getTime() / DAY) * DAY)]);
        await trx.deleteFrom('signal_dirty').where('grain', '=', grain).where('at', '=', d.at).where('version', '=', d.version).execute();
      });
      if (grain === 'h') summary.hours++;
      else summary.days++;
    }
  }
  summary.expired = await expireSignals(platform, now);
  return summary;
}

/** Deletes rollups past their grain's retention (and what can no longer be rolled up). */
export async function expireSignals(platform: Platform, now = new Date()): Promise<Record<string, number>> {
  const { config, tenancy } = platform;
  const minutesBefore = new Date(now.getTime() - config.BRIGADE_SIGNAL_MINUTE_RETENTION_HOURS * HOUR);
  const hoursBefore = new Date(now.getTime() - config.BRIGADE_SIGNAL_HOUR_RETENTION_DAYS * DAY);
  const daysBefore = new Date(now.getTime() - config.BRIGADE_SIGNAL_DAY_RETENTION_DAYS * DAY);
  const steps: [string, 'm' | 'h' | 'd', Date][] = [
    ['minutes', 'm', minutesBefore],
    ['hours', 'h', hoursBefore],
    ['days', 'd', daysBefore],
  ];
  const out: Record<string, number> = {};
  for (const [name, grain, before] of steps) {
    out[name] = await tenancy.withSystem(`signals: expire ${name}`, async (trx) => {
      const t = await trx.deleteFrom('tenant_signals').where('grain', '=', grain).where('at', '<', before).executeTakeFirst();
      await trx.deleteFrom('platform_signals').where('grain', '=', grain).where('at', '<', before).execute();
      return Number(t.numDeletedRows);
    });
  }
  await tenancy.withSystem('signals: forget old marks', async (trx) => {
    await trx.deleteFrom('signal_flushes').where('flushed_at', '<', new Date(now.getTime() - 2 * DAY)).execute();
    await trx.deleteFrom('signal_dirty').where('grain', '=', 'h').where('at', '<', minutesBefore).execute();
    await trx.deleteFrom('signal_dirty').where('grain', '=', 'd').where('at', '<', hoursBefore).execute();
  });
  return out;
}
