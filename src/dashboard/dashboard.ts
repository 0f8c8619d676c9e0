/**
 * The web dashboard (web/, built by `npm run build` into dist/web) served by the server itself at
 * /ui/, wherever the HTTP API is served (ROLE all or api). Its files are static and carry no data:
 * every request for data goes to the API and carries the API key the user typed in (X-API-Key, and
 * api_key on the WebSocket), so the files themselves need no key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';

/** Where the dashboard is served. */
export const DASHBOARD_PREFIX = '/ui/';

/**
 * The folder the dashboard is built into: dist/web under the package root, found by walking up from
 * this file (src/dashboard under ts-node and Jest, dist/src/dashboard when built; dist/ holds a
 * copy of package.json, so the root is the first folder above with dist/web in it).
 */
export function dashboardDir(from: string = __dirname): string {
  let firstRoot: string | undefined;
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'dist', 'web'))) return join(dir, 'dist', 'web');
    if (!firstRoot && existsSync(join(dir, 'package.json')) && basename(dir) !== 'dist') firstRoot = dir;
    if (dirname(dir) === dir) return join(firstRoot ?? from, 'dist', 'web');
  }
}

export function registerDashboard(app: NestFastifyApplication): void {
  const root = dashboardDir();
  const fastify = app.getHttpAdapter().getInstance();
  fastify.get('/', (_request, reply: FastifyReply) => reply.redirect(DASHBOARD_PREFIX, 302));
  if (!existsSync(join(root, 'index.html'))) {
    // Not built (a source checkout before `npm run build`): say so instead of a bare 404.
    const missing = (_request: unknown, reply: FastifyReply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build` (or `npm start`), then reload.\n');
    fastify.get('/ui', missing);
    fastify.get('/ui/*', missing);
    return;
  }
  const index = readFileSync(join(root, 'index.html'));
  fastify.get('/ui', (_request, reply: FastifyReply) => reply.redirect(DASHBOARD_PREFIX, 302));
  // Registered like Swagger UI's assets: loaded when the server starts.
  void fastify.register(async (instance) => {
    const fastifyStatic = (await import('@fastify/static')).default;
    await instance.register(fastifyStatic, {
      root,
      prefix: DASHBOARD_PREFIX,
      decorateReply: false,
      index: false,
      wildcard: true,
    });
    // The page itself (hash routes, so one document serves every view).
    instance.get(DASHBOARD_PREFIX, (_request, reply: FastifyReply) =>
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(index),
    );
  });
}
