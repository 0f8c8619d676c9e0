/** Builds the Fastify-based Nest application from a validated config (used by main, the CLI and e2e specs). */
import { mkdirSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import { AppConfig } from './common/config/app-config';
import { boundedJsonParser, clientErrorHandler, frameworkErrors } from './common/errors/edge-errors';
import { createHardwareBackends } from './common/hardware/hardware.module';
import { responseHeaders } from './common/security-headers';
import { createAppLogger } from './common/logging/pino-logger.service';
import { genRequestId, registerRequestLog } from './common/logging/request-log';
import { VERSION } from './common/version';
import { registerDashboard } from './dashboard/dashboard';
import { PrefixWsAdapter } from './gateways/prefix-ws.adapter';
import { registerRedoc } from './docs/redoc';
import { describeWebSocket, WEBSOCKET_DESCRIPTION, WS_MESSAGE_MODELS } from './docs/websocket';

type PluginMetadata = Parameters<typeof SwaggerModule.loadPluginMetadata>[0];

/**
 * `nest build` runs @nestjs/swagger's CLI plugin over the DTOs. Where sources are transpiled file
 * by file (Jest, ts-node) it cannot run, so `npm run metadata` writes the same metadata to
 * src/swagger-metadata.ts (generated, not committed), loaded here when present.
 */
function swaggerPluginMetadata(): PluginMetadata | undefined {
  const file = './swagger-metadata';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional, generated file
    return (require(file) as { default: PluginMetadata }).default;
  } catch {
    return undefined;
  }
}

/**
 * A request field with a default may be left out. The Swagger CLI plugin marks every `x: T = d`
 * property required; the document says what the ValidationPipe really accepts.
 */
function optionalWhereDefaulted(document: OpenAPIObject): void {
  for (const schema of Object.values(document.components?.schemas ?? {})) {
    if (!('properties' in schema) || !schema.properties || !schema.required) continue;
    const properties = schema.properties;
    schema.required = schema.required.filter(
      (name) => (properties[name] as { default?: unknown } | undefined)?.default === undefined,
    );
    if (schema.required.length === 0) delete schema.required;
  }
}

export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  mkdirSync(config.dataDir, { recursive: true });
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    trustProxy: true,
    clientErrorHandler,
    frameworkErrors,
    genReqId: genRequestId,
  });
  const backends = createHardwareBackends(config);
  // A process that runs jobs detects its backends before it takes any: a BullMQ worker consumes
  // the queues of the backends it really has, and the detection probes on this thread must not
  // overlap with jobs' sessions in worker threads (THREAD_UNSAFE_BACKENDS).
  const detected = config.role !== 'api' ? await Promise.all(backends.map((b) => b.detect())) : undefined;
  const workerBackends =
    config.queue.driver === 'bullmq' && detected
      ? detected.filter((d) => d.available).map((d) => d.name)
      : config.hardware;
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.register(config, { backends, workerBackends }),
    adapter,
    {
      logger: createAppLogger(config),
      abortOnError: false,
    },
  );
  // JSON bodies are bounded in depth, keys and array length before validation sees them.
  app.useBodyParser(
    'application/json',
    { bodyLimit: config.bodyLimitBytes },
    boundedJsonParser(adapter.getInstance()),
  );
  registerRequestLog(adapter.getInstance());
  const headersFor = responseHeaders();
  adapter.getInstance().addHook('onRequest', (request, reply, done) => {
    void reply.headers(headersFor(request.url));
    done();
  });
  if (config.corsOrigins) app.enableCors({ origin: config.corsOrigins });
  app.useWebSocketAdapter(
    new PrefixWsAdapter(app, { apiKey: config.apiKey, maxConnections: config.wsMaxConnections }),
  );
  app.enableShutdownHooks();

  const metadata = swaggerPluginMetadata();
  if (metadata) {
    // Under ts-node the metadata's NodeNext-style `.js` imports do not resolve: then the document
    // goes without the derived schemas rather than the server failing to start.
    await SwaggerModule.loadPluginMetadata(metadata).catch(() => undefined);
  }
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('IPFS Accelerate')
      .setDescription(
        'Generate, test and benchmark ONNX model implementations on CPU, CUDA and WebGPU.' +
          WEBSOCKET_DESCRIPTION,
      )
      .setVersion(VERSION)
      .addApiKey({ type: 'apiKey', name: 'X-API-Key', in: 'header' }, 'api-key')
      .addSecurityRequirements('api-key')
      .addTag('test', 'Test Suite: run a model on each backend and check its outputs')
      .addTag('generator', 'Generator Suite: a model name to a TypeScript implementation and its ONNX graph')
      .addTag('benchmark', 'Benchmark Suite: latency and throughput per configuration, and comparisons')
      .addTag('hardware', 'The backends this server has, and why one is unavailable')
      .addTag('workers', 'The worker processes (BullMQ driver)')
      .addTag('health', 'Readiness, liveness and Prometheus metrics (no API key needed)')
      .addTag('websocket', 'Progress over a WebSocket: see `x-websocket` and the description')
      .build(),
    { extraModels: WS_MESSAGE_MODELS },
  );
  optionalWhereDefaulted(document);
  describeWebSocket(document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
  registerRedoc(app);
  // The dashboard goes where the HTTP API is served (not on a worker-only process).
  if (config.role !== 'worker') registerDashboard(app);
  return app;
}
