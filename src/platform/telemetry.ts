import { trace, type Span } from '@opentelemetry/api';
import { NodeTracerProvider, BatchSpanProcessor, type SpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { currentContext } from './context/index.ts';

/**
 * Traces: every span carries the tenant (and request, user or job) it was made for. Spans are
 * exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; without an exporter tracing
 * stays off and costs nothing.
 */
class ContextAttributes implements SpanProcessor {
  onStart(span: Span): void {
    const ctx = currentContext();
    if (!ctx) return;
    if (ctx.tenantId) span.setAttribute('brigade.tenant_id', ctx.tenantId);
    if (ctx.requestId) span.setAttribute('brigade.request_id', ctx.requestId);
    if (ctx.userId) span.setAttribute('enduser.id', ctx.userId);
    if (ctx.jobId) span.setAttribute('brigade.job_id', ctx.jobId);
  }
  onEnd(): void {}
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

export interface Tracing {
  fastify: FastifyOtelInstrumentation;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export async function startTracing(exporter?: SpanExporter): Promise<Tracing | null> {
  let spanExporter = exporter;
  if (!spanExporter && process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    spanExporter = new OTLPTraceExporter();
  }
  if (!spanExporter) return null;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: process.env.OTEL_SERVICE_NAME ?? 'brigade' }),
    spanProcessors: [new ContextAttributes(), new BatchSpanProcessor(spanExporter)],
  });
  provider.register();
  const fastify = new FastifyOtelInstrumentation();
  fastify.setTracerProvider(provider);
  return { fastify, flush: () => provider.forceFlush(), shutdown: () => provider.shutdown() };
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
