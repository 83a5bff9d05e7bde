import { describe, expect, it } from 'vitest';
import { choosePartSize, MAX_PARTS, MIN_PART_SIZE } from '../../../task/core/part-size.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('choosePartSize', () => {
  it.each([
    [0, 5 * MiB],
    [100 * MiB, 5 * MiB],
    [20 * GiB, 5 * MiB],
    [100 * GiB, 21 * MiB],
    [2 * 1024 * GiB, 420 * MiB],
  ])('picks a part size for an expected %d bytes', (expected, partSize) => {
    expect(choosePartSize(expected)).toBe(partSize);
  });

  it.each([1, 7 * GiB, 123 * GiB, 900 * GiB, 2.4 * 1024 * GiB])(
    'fits twice the expected size (%d bytes) into 10,000 parts of at least 5 MiB',
    (expected) => {
      const size = choosePartSize(expected);
      expect(size).toBeGreaterThanOrEqual(MIN_PART_SIZE);
      expect(Math.ceil((2 * expected) / size)).toBeLessThanOrEqual(MAX_PARTS);
    },
  );

  it('fails for sizes no S3 object can hold', () => {
    expect(() => choosePartSize(6 * 1024 * 1024 * GiB)).toThrow('exceeds what one S3 object can hold');
  });

  it('fails for a negative size', () => {
    expect(() => choosePartSize(-1)).toThrow('non-negative');
  });
});
