/** serve: the API server (and/or workers) from loadConfig with command-line overrides. */
import type { AppConfig, Component, Role } from '../../common/config/app-config';
import { CliError, EXIT } from '../context';

export interface ServeOptions {
  port?: number;
  host?: string;
  components?: string[];
  role?: string;
}

export async function serveAction(opts: ServeOptions): Promise<number | 'running'> {
  // Loaded here only: the other commands need no Nest.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { createApp } = require('../../bootstrap') as typeof import('../../bootstrap');
  const { COMPONENTS, ConfigError, loadConfig, ROLES } =
    require('../../common/config/app-config') as typeof import('../../common/config/app-config');
  const { announceListening } =
    require('../../common/logging/pino-logger.service') as typeof import('../../common/logging/pino-logger.service');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const overrides: { -readonly [K in keyof AppConfig]?: AppConfig[K] } = {};
  if (opts.port !== undefined) overrides.port = opts.port;
  if (opts.host) overrides.host = opts.host;
  if (opts.components) {
    const bad = opts.components.filter((c) => !(COMPONENTS as readonly string[]).includes(c));
    if (bad.length)
      throw new CliError(
        `--components must be among ${COMPONENTS.join(', ')}, got ${bad.join(', ')}`,
        EXIT.USAGE,
      );
    overrides.components = opts.components as Component[];
  }
  if (opts.role) {
    if (!(ROLES as readonly string[]).includes(opts.role))
      throw new CliError(`--role must be one of ${ROLES.join(', ')}, got ${opts.role}`, EXIT.USAGE);
    overrides.role = opts.role as Role;
  }
  let config: AppConfig;
  try {
    config = loadConfig(process.env, overrides);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.USAGE);
    throw err;
  }
  const app = await createApp(config);
  await app.listen(config.port, config.host);
  const url = await app.getUrl();
  announceListening(
    config,
    url,
    `IPFS Accelerate listening on ${url} (role ${config.role}, components ${config.components.join(',')}, queue ${config.queue.driver}, data ${config.dataDir})`,
  );
  return 'running';
}
