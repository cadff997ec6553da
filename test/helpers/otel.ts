// The OpenTelemetry SDK as an application sets it up, with in-memory exporters instead of a backend:
// a tracer provider whose finished spans a test reads, and a metric reader it collects on demand.
import { context, metrics, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/** A reader that exports nothing by itself: `collect()` reads every instrument when a test asks. */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface Otel {
  readonly exporter: InMemorySpanExporter;
  /** Finished spans, in the order they ended. */
  spans(): ReadableSpan[];
  /** Finished spans named `name`. */
  named(name: string): ReadableSpan[];
  /** The metrics of this package's scope, as a collection now reads them. */
  collect(): Promise<MetricData[]>;
  /** The data points of metric `name` (an empty list when it has none). */
  points(name: string): Promise<DataPoint<unknown>[]>;
  /** Ends the providers and unregisters the globals. */
  uninstall(): Promise<void>;
}

/**
 * Registers a tracer provider, a meter provider and the AsyncLocalStorage context manager as the
 * global ones, as `NodeSDK.start()` would. `register: false` builds them without registering.
 */
export function installOtel(options: { readonly register?: boolean } = {}): Otel {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const register = options.register !== false;
  if (register) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(tracerProvider);
    metrics.setGlobalMeterProvider(meterProvider);
  }
  const collect = async (): Promise<MetricData[]> => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'collecting metrics failed');
    return resourceMetrics.scopeMetrics
      .filter((scope) => scope.scope.name === 'workbook-sessions')
      .flatMap((scope) => scope.metrics);
  };
  return {
    exporter,
    spans: () => exporter.getFinishedSpans(),
    named: (name) => exporter.getFinishedSpans().filter((span) => span.name === name),
    collect,
    points: async (name) =>
      ((await collect()).find((metric) => metric.descriptor.name === name)?.dataPoints ?? []) as DataPoint<unknown>[],
    uninstall: async () => {
      if (register) {
        trace.disable();
        metrics.disable();
        context.disable();
      }
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** The value of a sum or gauge data point whose attributes include `attributes`; 0 when there is none. */
export function valueOf(points: readonly DataPoint<unknown>[], attributes: Attributes = {}): number {
  const matching = points.filter((point) =>
    Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
  );
  return matching.reduce((sum, point) => sum + (typeof point.value === 'number' ? point.value : 0), 0);
}

/** How many values a histogram's data points whose attributes include `attributes` counted. */
export function countOf(points: readonly DataPoint<unknown>[], attributes: Attributes = {}): number {
  return points
    .filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value))
    .reduce((sum, point) => sum + ((point.value as { count?: number }).count ?? 0), 0);
}

/** Every attribute value a span carries, its events' too, as text. */
export function attributeTexts(span: ReadableSpan): string[] {
  const all: Attributes[] = [span.attributes, ...span.events.map((event) => event.attributes ?? {})];
  return all.flatMap((attributes) => Object.values(attributes).map((value) => String(value)));
}

export { DataPointType };
