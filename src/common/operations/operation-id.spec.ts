import { validate as isUuid, version as uuidVersion } from 'uuid';
import { newOperationId } from './operations.service';

describe('operation ids', () => {
  it('are unique version-7 UUIDs, ordered by the millisecond they were made in', async () => {
    const first = Array.from({ length: 5000 }, () => newOperationId());
    await new Promise((r) => setTimeout(r, 5));
    const later = newOperationId();
    expect(new Set(first).size).toBe(first.length);
    for (const id of [...first, later]) {
      expect(isUuid(id)).toBe(true);
      expect(uuidVersion(id)).toBe(7);
    }
    // The first 48 bits are the creation time: an id made later sorts after every earlier one.
    expect([...first].sort().at(-1)! < later).toBe(true);
    const msecs = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(msecs(later) - Date.now())).toBeLessThan(1000);
  });
});
