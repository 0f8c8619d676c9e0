import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';

/** Constant-time comparison of two secrets of any length (both hashed first). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const OPEN_PATHS = [/^\/health(\/|$|\?)/, /^\/metrics(\/|$|\?)/, /^\/docs(\/|$|-json|-yaml|\?)/];

export function isOpenPath(url: string): boolean {
  return OPEN_PATHS.some((re) => re.test(url));
}

/** With API_KEY set, every REST route but /health, /metrics and /docs needs the X-API-Key header. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@InjectConfig() private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.apiKey;
    if (!expected || context.getType() !== 'http') return true;
    const req = context
      .switchToHttp()
      .getRequest<{ url: string; headers: Record<string, string | string[] | undefined> }>();
    if (isOpenPath(req.url)) return true;
    const given = req.headers['x-api-key'];
    if (typeof given === 'string' && secretsEqual(given, expected)) return true;
    throw new UnauthorizedException({
      message: 'missing or invalid API key (X-API-Key header)',
      code: 'UNAUTHORIZED',
    });
  }
}
