import { createApp } from './bootstrap';
import { ConfigError, loadConfig } from './common/config/app-config';

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
  console.log(
    `IPFS Accelerate listening on ${await app.getUrl()} (docs at /docs, queue ${config.queue.driver}, data ${config.dataDir})`,
  );
}

void main();
