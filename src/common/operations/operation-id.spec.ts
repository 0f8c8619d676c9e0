import { validate as isUuid, version as uuidVersion } from 'uuid';
import { newOperationId } from './operations.service';

/** The creation time an RFC 9562 version-7 UUID carries in its first 48 bits, ms since the epoch. */
const msecs = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('operation ids', () => {
  // Order and structure only, no clock tolerance: a loaded machine may pause anywhere in here.
  it('are unique version-7 UUIDs in the RFC 9562 layout', () => {
    const ids = Array.from({ length: 5000 }, () => newOperationId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(isUuid(id)).toBe(true);
      expect(uuidVersion(id)).toBe(7);
      // version nibble 7, variant bits 10xx
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('sort in the order they were made, including ids made in the same millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => newOperationId());
    expect([...ids].sort()).toEqual(ids);
  });

  it('carry a creation time between a clock reading taken before and one taken after', () => {
    const before = Date.now();
    const id = newOperationId();
    const after = Date.now();
    expect(msecs(id)).toBeGreaterThanOrEqual(before);
    expect(msecs(id)).toBeLessThanOrEqual(after);
  });
});
