/**
 * Security headers (helmet's), computed once. @fastify/helmet 13 builds a new helmet middleware
 * for every request (parsing the CSP directives each time); the headers are the same for every
 * response of a given configuration, so they are computed at start-up and set in one hook.
 *
 * Two sets: the API's JSON responses get the headers that matter for a response no browser renders
 * (OWASP's REST set: nothing may load or frame it, no sniffing, HSTS, no referrer, same-origin
 * resource policy, no caching of live state); the HTML of Swagger UI (/docs) gets helmet's full
 * document set. Every header costs each response a validation pass in Node's HTTP layer, so the
 * document-only ones (DNS prefetch, IE download options, XSS auditor, origin-agent cluster, Flash
 * policies, opener policy) are left off the JSON routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { HelmetOptions } from 'helmet';

/** Swagger UI (/docs) needs inline scripts and styles. */
export const DOCS_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", "'unsafe-inline'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
    },
  },
};

/** ReDoc (/redoc): its bundle injects styles and starts a search worker from a blob. */
export const REDOC_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      workerSrc: ["'self'", 'blob:'],
    },
  },
};

/**
 * The dashboard (/ui): its own scripts, styles and fonts only, no inline script or style element;
 * fetch and WebSocket to this origin. Charts set element styles from script (CSSOM), which CSP allows.
 */
export const DASHBOARD_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  xFrameOptions: { action: 'deny' },
};

/** JSON responses: nothing loads from or frames them. */
export const API_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
  xFrameOptions: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

export function securityHeaders(options: HelmetOptions = DOCS_HELMET_OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  let failure: unknown;
  helmet(options)(
    {} as IncomingMessage,
    response as unknown as ServerResponse,
    (err?: unknown) => (failure = err),
  );
  if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  return headers;
}

/** The headers of every response: the document set under /docs, ReDoc's under /redoc, the dashboard's under /ui, the API set elsewhere. */
export function responseHeaders(): (url: string) => Record<string, string> {
  const docs = securityHeaders(DOCS_HELMET_OPTIONS);
  const dashboard = securityHeaders(DASHBOARD_HELMET_OPTIONS);
  const redoc = securityHeaders(REDOC_HELMET_OPTIONS);
  const api = { ...securityHeaders(API_HELMET_OPTIONS), 'cache-control': 'no-store' };
  return (url) =>
    url.startsWith('/docs')
      ? docs
      : url === '/ui' || url.startsWith('/ui/')
        ? dashboard
        : url === '/redoc' || url.startsWith('/redoc/')
          ? redoc
          : api;
}
