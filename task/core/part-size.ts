/** S3 multipart limits and the part size that keeps an upload within them. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;
const MIB = 1024 * 1024;

/**
 * Chooses a part size for a stream whose final size is unknown but estimated by `expectedBytes`
 * (the uncompressed database or directory size, an upper bound for the compressed stream in
 * practice). Plans for twice the estimate in at most 10,000 parts, so growth during the dump
 * or an incompressible stream still fits; rounded up to whole MiB, at least S3's 5 MiB.
 */
export function choosePartSize(expectedBytes: number): number {
  if (!Number.isFinite(expectedBytes) || expectedBytes < 0) {
    throw new Error(`expected size must be a non-negative number of bytes, got: ${expectedBytes}`);
  }
  const needed = Math.ceil((expectedBytes * 2) / MAX_PARTS);
  const rounded = Math.ceil(needed / MIB) * MIB;
  const size = Math.max(MIN_PART_SIZE, rounded);
  if (size > MAX_PART_SIZE) {
    throw new Error(`expected size ${expectedBytes} bytes exceeds what one S3 object can hold (5 TiB)`);
  }
  return size;
}
