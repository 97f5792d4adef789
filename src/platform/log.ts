import pino, { type Logger } from 'pino';
import { currentContext } from './context/index.ts';
import { activeTraceId } from './telemetry.ts';

export type { Logger };

/**
 * Keys whose values never reach a log line, at the top of a log object or up to two levels
 * down (`password`, `user.password`, `req.headers.authorization`). Checked by a plain walk of
 * the few keys a line has, copying only an object that holds a secret: pino's path redaction
 * with wildcards cost about 36 µs per request line.
 */
export const redactedKeys: ReadonlySet<string> = new Set(['password', 'token', 'authorization', 'cookie', 'stripe-signature', 'secret', 'passwordHash', 'card']);
const CENSOR = '[redacted]';

function redact(value: object, depth: number): object {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    let next = v;
    if (redactedKeys.has(key)) next = CENSOR;
    else if (depth < 2 && v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Error)) next = redact(v, depth + 1);
    if (next !== v) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = next;
    }
  }
  return copy ?? value;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'brigade' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { log: (object) => redact(object, 0) as Record<string, unknown> },
      // Every line carries the ids of the request or job it was written for.
      mixin() {
        const ctx = currentContext();
        const traceId = ctx?.traceId ?? activeTraceId();
        if (!ctx && !traceId) return {};
        const ids: Record<string, string> = traceId ? { traceId } : {};
        if (!ctx) return ids;
        if (ctx.requestId) ids.requestId = ctx.requestId;
        if (ctx.tenantId) ids.tenantId = ctx.tenantId;
        if (ctx.userId) ids.userId = ctx.userId;
        if (ctx.operatorId) ids.operatorId = ctx.operatorId;
        if (ctx.jobId) ids.jobId = ctx.jobId;
        return ids;
      },
    },
    destination,
  );
}
