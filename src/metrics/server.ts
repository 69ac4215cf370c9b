/**
 * The worker's `/metrics` endpoint: the pipeline's metrics (src/metrics/pipeline.ts) followed by
 * the Temporal SDK's worker metrics, so Prometheus scrapes one target. The SDK serves its metrics
 * from its own exporter (Runtime telemetry, in Rust) on 127.0.0.1:METRICS_SDK_PORT; each scrape
 * fetches that and appends it. Off unless METRICS_PORT is set; binds 127.0.0.1 unless METRICS_HOST says otherwise.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ActivityInterceptorsFactory, TelemetryOptions } from '@temporalio/worker';
import type { Env } from '../config';
import { DEFAULT_PIPELINE } from '../pipelines/name';
import type { PipelineMetrics } from './pipeline';

export interface MetricsEndpoint {
  host: string;
  port: number;
  /** The SDK exporter's port (on 127.0.0.1). */
  sdkPort: number;
  /** Topics whose Kafka lag is reported. */
  topics: string[];
}

/** The endpoint the environment asks for, or null (METRICS_PORT unset: no endpoint). */
export function metricsEndpoint(env: Env): MetricsEndpoint | null {
  if (env.METRICS_PORT === undefined) return null;
  return { host: env.METRICS_HOST, port: env.METRICS_PORT, sdkPort: env.METRICS_SDK_PORT ?? env.METRICS_PORT + 1, topics: env.METRICS_TOPICS };
}

/** Runtime telemetry for Runtime.install: the SDK's Prometheus exporter with Prometheus-style names. */
export function sdkTelemetry(endpoint: MetricsEndpoint): TelemetryOptions {
  return {
    metrics: {
      prometheus: { bindAddress: `127.0.0.1:${endpoint.sdkPort}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true },
    },
  };
}

/**
 * Counts every stage activity's result (or failure) into the pipeline metrics, under the pipeline
 * its input names (none: the sensor pipeline, as every input defaults).
 */
export function metricsInterceptor(metrics: PipelineMetrics): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const started = Date.now();
        const named = (input.args[0] as { pipeline?: unknown } | undefined)?.pipeline;
        const pipeline = typeof named === 'string' ? named : DEFAULT_PIPELINE;
        try {
          const result = await next(input);
          metrics.observeSuccess(ctx.info.activityType, result, Date.now() - started, Date.now(), pipeline);
          return result;
        } catch (e) {
          metrics.observeFailure(ctx.info.activityType, pipeline);
          throw e;
        }
      },
    },
  });
}

const SDK_FETCH_TIMEOUT_MS = 3000;

async function sdkMetrics(sdkPort: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${sdkPort}/metrics`, { signal: AbortSignal.timeout(SDK_FETCH_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return `# Temporal SDK worker metrics (exporter on 127.0.0.1:${sdkPort})\n${await res.text()}`;
  } catch (e) {
    return `# Temporal SDK metrics unavailable from 127.0.0.1:${sdkPort}: ${e instanceof Error ? e.message : String(e)}\n`;
  }
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Serves GET /metrics on host:port until close(). */
export async function serveMetrics(metrics: PipelineMetrics, endpoint: MetricsEndpoint): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    void (async () => {
      await metrics.collect();
      const body = metrics.render() + (await sdkMetrics(endpoint.sdkPort));
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
    })().catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`metrics failed: ${e instanceof Error ? e.message : String(e)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint.port, endpoint.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
