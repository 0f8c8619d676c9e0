import { createApp } from './bootstrap';
import { ConfigError, loadConfig } from './common/config/app-config';
import { announceListening } from './common/logging/pino-logger.service';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const app = await createApp(config);
  await app.listen(config.port, config.host);
  const url = await app.getUrl();
  announceListening(
    config,
    url,
    `IPFS Accelerate listening on ${url} (docs at /docs, queue ${config.queue.driver}, data ${config.dataDir})`,
  );
}

void main();
