/**
 * ReDoc beside Swagger UI: /redoc renders the same OpenAPI document (/docs-json) as a reference.
 * The page, its start-up script and ReDoc's standalone bundle (from the `redoc` package, served from
 * this process: no CDN) are plain Fastify routes, like Swagger UI's assets; no inline script.
 * ReDoc's side menu always asks for Redocly's logo from their CDN: the CSP blocks it (nothing leaves
 * this origin), so the browser logs one CSP message for it.
 */
import { createReadStream } from 'node:fs';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';

export const REDOC_PREFIX = '/redoc';

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>IPFS Accelerate API reference (ReDoc)</title>
    <link rel="icon" href="data:," />
  </head>
  <body>
    <div id="redoc"></div>
    <script src="${REDOC_PREFIX}/redoc.standalone.js"></script>
    <script src="${REDOC_PREFIX}/init.js"></script>
  </body>
</html>
`;

const INIT = `Redoc.init('/docs-json', { expandResponses: '202' }, document.getElementById('redoc'));\n`;

export function registerRedoc(app: NestFastifyApplication): void {
  const bundle = require.resolve('redoc/bundles/redoc.standalone.js');
  const fastify = app.getHttpAdapter().getInstance();
  fastify.get(REDOC_PREFIX, (_request, reply: FastifyReply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(PAGE),
  );
  fastify.get(`${REDOC_PREFIX}/init.js`, (_request, reply: FastifyReply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(INIT),
  );
  fastify.get(`${REDOC_PREFIX}/redoc.standalone.js`, (_request, reply: FastifyReply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .send(createReadStream(bundle)),
  );
}
