import { totalmem } from 'node:os';
import { ConfigError, loadConfig } from '../config/app-config';

describe('admission budgets in the configuration', () => {
  it('defaults to 75% of the memory and 5% of the disk kept free', () => {
    const { admission } = loadConfig({});
    expect(admission.memoryBytes).toBe(Math.floor(0.75 * totalmem()));
    expect(admission.diskMinFree).toEqual({ fraction: 0.05 });
  });

  it('reads sizes with units and percentages', () => {
    expect(loadConfig({ MEMORY_BUDGET: '16GiB', DISK_MIN_FREE: '500MB' }).admission).toEqual({
      memoryBytes: 16 * 2 ** 30,
      diskMinFree: { bytes: 500e6 },
    });
    expect(loadConfig({ MEMORY_BUDGET: '1073741824', DISK_MIN_FREE: '100%' }).admission).toEqual({
      memoryBytes: 2 ** 30,
      diskMinFree: { fraction: 1 },
    });
    expect(loadConfig({ MEMORY_BUDGET: '50 %' }).admission.memoryBytes).toBe(Math.floor(0.5 * totalmem()));
  });

  it.each([
    ['MEMORY_BUDGET', 'lots'],
    ['MEMORY_BUDGET', '0'],
    ['MEMORY_BUDGET', '-1GiB'],
    ['DISK_MIN_FREE', '101%'],
    ['DISK_MIN_FREE', '5 parsecs'],
  ])('refuses %s=%s', (key, value) => {
    expect(() => loadConfig({ [key]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [key]: value })).toThrow(new RegExp(key));
  });
});
