/**
 * The per-GB CPU of the byte-wise work an upload does: SHA-256 and CRC32 of 5 MiB parts, in this
 * node (what backupctl's node process uses) and in python3 (the AWS CLI's runtime, whose hashlib
 * and zlib are the system's OpenSSL and zlib). `npm run bench` measures it in the same run to
 * account for the node process's CPU against the aws process's; `npx tsx bench/upload-costs.ts`
 * prints it alone.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

export interface HashCosts {
  readonly sha256: number;
  readonly crc32: number;
}

const BYTES = 256 * 1024 * 1024;
const PART = 5 * 1024 * 1024;

function cpuSeconds(work: () => void): number {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/** Seconds of CPU per GB (10^9 bytes), the best of three rounds. */
export function nodeHashCosts(): HashCosts {
  const data = randomBytes(BYTES);
  const best = (work: (part: Buffer) => void) =>
    Math.min(
      ...[1, 2, 3].map(() =>
        cpuSeconds(() => {
          for (let o = 0; o < BYTES; o += PART) work(data.subarray(o, o + PART));
        }),
      ),
    ) /
    (BYTES / 1e9);
  return {
    sha256: best((part) => createHash('sha256').update(part).digest()),
    crc32: best((part) => crc32(part)),
  };
}

const PYTHON = `
import hashlib, os, time, zlib, json
data = memoryview(os.urandom(${BYTES}))
def best(work):
    times = []
    for _ in range(3):
        start = time.process_time()
        for o in range(0, ${BYTES}, ${PART}):
            work(data[o:o + ${PART}])
        times.append(time.process_time() - start)
    return min(times) / (${BYTES} / 1e9)
print(json.dumps({"sha256": best(lambda p: hashlib.sha256(p).digest()), "crc32": best(lambda p: zlib.crc32(p))}))
`;

export function pythonHashCosts(): HashCosts {
  return JSON.parse(execFileSync('python3', ['-c', PYTHON], { encoding: 'utf8' })) as HashCosts;
}

if (process.argv[1]?.endsWith('upload-costs.ts')) {
  const show = (c: HashCosts) => `SHA-256 ${c.sha256.toFixed(2)} s, CRC32 ${c.crc32.toFixed(2)} s`;
  console.log(`CPU per GB, node ${process.version}: ${show(nodeHashCosts())}`);
  console.log(`CPU per GB, python3 (the AWS CLI's runtime): ${show(pythonHashCosts())}`);
}
