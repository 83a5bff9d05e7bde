/**
 * `npx tsx bench/upload-costs.ts`: the per-GB CPU of the byte-wise work an upload does in the node
 * process (SHA-256, CRC32, copying chunks into fresh part buffers), to account for its CPU against
 * the AWS CLI's. 1 GB in 64 KiB chunks (what node reads from a pipe), 3 repetitions.
 */
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

const CHUNK = randomBytes(64 * 1024);
const CHUNKS = Math.round(1e9 / CHUNK.length);
const PART_CHUNKS = 80; // 5 MiB

function cpuSeconds(work: () => void): string {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) / 1e6).toFixed(2);
}

for (let round = 1; round <= 3; round++) {
  const sha256 = cpuSeconds(() => {
    const hash = createHash('sha256');
    for (let i = 0; i < CHUNKS; i++) hash.update(CHUNK);
    hash.digest();
  });
  const crc = cpuSeconds(() => {
    let value = 0;
    for (let i = 0; i < CHUNKS; i++) value = crc32(CHUNK, value);
  });
  const concat = cpuSeconds(() => {
    const part: Buffer[] = [];
    for (let i = 0; i < CHUNKS; i++) {
      part.push(CHUNK);
      if (part.length === PART_CHUNKS) {
        Buffer.concat(part);
        part.length = 0;
      }
    }
  });
  console.log(`per GB: sha256 ${sha256} s, crc32 ${crc} s, Buffer.concat into fresh 5 MiB parts ${concat} s`);
}
