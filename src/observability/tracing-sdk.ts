/**
 * The OpenTelemetry SDK parts tracing needs, in one module loaded only when
 * `telemetry.tracing` is configured: the SDK, the OTLP exporter and their dependencies
 * are tens of megabytes of resident memory a gateway without tracing should not carry.
 */
export { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
export { resourceFromAttributes } from '@opentelemetry/resources';
export { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
export { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
