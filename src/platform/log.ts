import pino, { type Logger } from 'pino';
import { currentContext } from './context/index.ts';
import { activeTraceId } from './telemetry.ts';

export type { Logger };

/** Paths whose values never reach a log line. */
export const redactPaths = [
  'password',
  '*.password',
  'token',
  '*.token',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  'headers.authorization',
  'headers["stripe-signature"]',
  'authorization',
  'secret',
  '*.secret',
  'passwordHash',
  '*.passwordHash',
  'card',
  '*.card',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'brigade' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths, censor: '[redacted]' },
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
