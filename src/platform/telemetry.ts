import pg from 'pg';
import { Redis } from 'ioredis';
import { context, propagation, trace, SpanKind, SpanStatusCode, ROOT_CONTEXT, type Span, type Tracer, type Attributes } from '@opentelemetry/api';
import { NodeTracerProvider, BatchSpanProcessor, type SpanProcessor, type SpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { ExportResult } from '@opentelemetry/core';
import { currentContext, type RunContext } from './context/index.ts';

/**
 * Traces: spans for HTTP (Fastify), PostgreSQL, Redis and every job, each carrying the tenant,
 * request, user and job ids of the work it was made for. Exported over OTLP/HTTP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set; without an exporter tracing stays off and costs nothing
 * (the database and Redis clients are not even wrapped).
 *
 * The ids come from the context store. A span started before they are known (the token lookup
 * that tells whose request it is) gets them when it is exported: the store object is the same
 * one the request enriches, and the batch exporter runs after the request knew its tenant.
 */
const spanContexts = new WeakMap<object, RunContext>();
// Spans that start before the context store exists (the request's first hooks) take the ids of
// their trace's unit of work. Bounded: the oldest traces are forgotten first.
const traceContexts = new Map<string, RunContext>();
const TRACES_KEPT = 10_000;

function rememberTrace(traceId: string, ctx: RunContext): void {
  if (traceContexts.has(traceId)) return;
  traceContexts.set(traceId, ctx);
  if (traceContexts.size > TRACES_KEPT) traceContexts.delete(traceContexts.keys().next().value!);
}

function contextAttributes(ctx: RunContext): Attributes {
  const attrs: Attributes = {};
  if (ctx.tenantId) attrs['brigade.tenant_id'] = ctx.tenantId;
  if (ctx.requestId) attrs['brigade.request_id'] = ctx.requestId;
  if (ctx.userId) attrs['enduser.id'] = ctx.userId;
  if (ctx.operatorId) attrs['brigade.operator_id'] = ctx.operatorId;
  if (ctx.jobId) attrs['brigade.job_id'] = ctx.jobId;
  return attrs;
}

class ContextAttributes implements SpanProcessor {
  onStart(span: Span): void {
    const ctx = currentContext();
    if (!ctx) return;
    spanContexts.set(span, ctx);
    rememberTrace(span.spanContext().traceId, ctx);
    span.setAttributes(contextAttributes(ctx));
  }
  onEnding(span: Span): void {
    const ctx = spanContexts.get(span);
    if (ctx) span.setAttributes(contextAttributes(ctx));
  }
  onEnd(): void {}
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** Adds the ids learnt after a span ended (see above), then hands the spans on. */
class EnrichingExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) {
      const ctx = spanContexts.get(span) ?? traceContexts.get(span.spanContext().traceId);
      if (!ctx) continue;
      const attrs = span.attributes as Attributes;
      for (const [k, v] of Object.entries(contextAttributes(ctx))) if (attrs[k] === undefined) attrs[k] = v;
    }
    this.inner.export(spans, done);
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export interface Tracing {
  fastify: FastifyOtelInstrumentation;
  tracer: Tracer;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let activeTracer: Tracer | null = null;

export async function startTracing(exporter?: SpanExporter): Promise<Tracing | null> {
  let spanExporter = exporter;
  if (!spanExporter && process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    spanExporter = new OTLPTraceExporter();
  }
  if (!spanExporter) return null;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: process.env.OTEL_SERVICE_NAME ?? 'brigade' }),
    spanProcessors: [new ContextAttributes(), new BatchSpanProcessor(new EnrichingExporter(spanExporter))],
  });
  provider.register();
  const tracer = provider.getTracer('brigade');
  activeTracer = tracer;
  instrumentPostgres();
  instrumentRedis();
  const fastify = new FastifyOtelInstrumentation();
  fastify.setTracerProvider(provider);
  return {
    fastify,
    tracer,
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      if (activeTracer === tracer) activeTracer = null;
      await provider.shutdown();
    },
  };
}

/** Marks the request's span with the tenant once the token has told us who it is. */
export function tagRequestSpan(req: object, attrs: Record<string, string>): void {
  const otel = (req as { opentelemetry?: () => { span?: Span } }).opentelemetry?.();
  const span = otel?.span ?? trace.getActiveSpan();
  if (span) for (const [k, v] of Object.entries(attrs)) span.setAttribute(k, v);
}

export function activeTraceId(): string | undefined {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && ctx.traceFlags ? ctx.traceId : undefined;
}

/** The W3C traceparent of the active span, for work that continues elsewhere (an outbox row). */
export function currentTraceparent(): string | null {
  if (!activeTracer) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

export interface JobSpanAttributes {
  type: string;
  queue: string;
  jobId: string;
  tenantId: string | null;
  attempt: number;
}

/**
 * Runs a job attempt inside its span, a child of the span that enqueued it when its
 * traceparent travelled with it (through the outbox): the job belongs to the request's trace.
 * The callback receives the trace id (for log lines), or undefined when tracing is off.
 */
export function withJobSpan<T>(traceparent: string | null | undefined, a: JobSpanAttributes, fn: (traceId: string | undefined) => Promise<T>): Promise<T> {
  const tracer = activeTracer;
  if (!tracer) return fn(undefined);
  const parent = traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
  const attributes: Attributes = {
    'messaging.system': 'bullmq',
    'messaging.destination.name': a.queue,
    'messaging.operation.type': 'process',
    'messaging.message.id': a.jobId,
    'brigade.job_type': a.type,
    'brigade.job_id': a.jobId,
    'brigade.job_attempt': a.attempt,
  };
  if (a.tenantId) attributes['brigade.tenant_id'] = a.tenantId;
  return tracer.startActiveSpan(`job ${a.type}`, { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
    try {
      return await fn(span.spanContext().traceId);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Client spans for PostgreSQL and Redis. The official instrumentations hook require(), which an
// ESM entry that imported pg and ioredis before tracing started never goes through again; these
// wrap the one method each client sends everything through, once per process, and make a span
// only inside a traced unit of work (a request or a job), never for idle pool or queue chatter.

let postgresWrapped = false;
let redisWrapped = false;

const operationOf = (text: string | undefined): string => {
  const m = /^\s*(?:with\b[\s\S]*?\)\s*)?([a-z]+)/i.exec(text ?? '');
  return (m?.[1] ?? 'query').toUpperCase();
};

function clientSpan(name: string, attributes: Attributes): Span | null {
  const tracer = activeTracer;
  if (!tracer || !trace.getSpan(context.active())) return null;
  return tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes });
}

function endSpan(span: Span, err?: unknown): void {
  if (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
  }
  span.end();
}

function instrumentPostgres(): void {
  if (postgresWrapped) return;
  postgresWrapped = true;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function query(this: pg.Client & { database?: string }, ...args: unknown[]) {
    const config = args[0] as { text?: string; submit?: unknown; callback?: (...a: unknown[]) => void; once?: (e: string, f: (...a: unknown[]) => void) => void } | string | undefined;
    const text = typeof config === 'string' ? config : config?.text;
    const span = clientSpan(`pg ${operationOf(text)}`, {
      'db.system.name': 'postgresql',
      'db.namespace': this.database ?? '',
      'db.operation.name': operationOf(text),
      'db.query.text': (text ?? '').slice(0, 1000),
    });
    if (!span) return original.apply(this, args);
    const last = args.length - 1;
    if (typeof args[last] === 'function') {
      const cb = args[last] as (...a: unknown[]) => void;
      args[last] = (err: unknown, ...rest: unknown[]) => {
        endSpan(span, err);
        cb(err, ...rest);
      };
      return original.apply(this, args);
    }
    if (config && typeof config === 'object' && typeof config.submit === 'function') {
      // A submittable (the pipelined statements): it reports through its own callback.
      const cb = config.callback;
      if (typeof cb === 'function') {
        config.callback = (err: unknown, ...rest: unknown[]) => {
          endSpan(span, err);
          cb(err, ...rest);
        };
      } else {
        config.once?.('end', () => endSpan(span));
        config.once?.('error', (err) => endSpan(span, err));
      }
      return original.apply(this, args);
    }
    const result = original.apply(this, args) as Promise<unknown> | undefined;
    if (result && typeof result.then === 'function') result.then(() => endSpan(span), (err) => endSpan(span, err));
    else endSpan(span);
    return result;
  };
}

function instrumentRedis(): void {
  if (redisWrapped) return;
  redisWrapped = true;
  const proto = Redis.prototype as unknown as { sendCommand: (command: { name: string; promise: Promise<unknown> }, ...rest: unknown[]) => unknown };
  const original = proto.sendCommand;
  proto.sendCommand = function sendCommand(this: Redis, command, ...rest) {
    const span = clientSpan(`redis ${command?.name ?? 'command'}`, { 'db.system.name': 'redis', 'db.operation.name': command?.name ?? '' });
    const result = original.call(this, command, ...rest);
    if (span) command.promise.then(() => endSpan(span), (err) => endSpan(span, err));
    return result;
  };
}
