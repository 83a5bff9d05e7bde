/**
 * S3Store passes the ObjectStore contract against the S3 emulator, through the fault proxy with
 * no faults: it enforces If-None-Match and If-Match as real S3 does, which the emulator alone
 * does not, so the conditional-write clauses are held to S3's semantics too.
 */
import { afterAll, beforeAll, vi } from 'vitest';
import { S3Store } from '../../task/store/s3.ts';
import { createS3Client } from '../../task/store/s3-reader.ts';
import { type FaultProxy, startFaultProxy } from '../../tools/local/fault-proxy.ts';
import { type S3Emulator, startS3, TEST_CREDENTIALS } from '../../tools/local/s3.ts';
import { describeStoreContract } from '../unit/store/contract.ts';

const BUCKET = 'contract';
let s3: S3Emulator;
let proxy: FaultProxy;
let store: S3Store;

beforeAll(async () => {
  for (const [name, value] of Object.entries(TEST_CREDENTIALS)) vi.stubEnv(name, value);
  s3 = await startS3();
  await s3.createBucket(BUCKET);
  proxy = await startFaultProxy(s3.endpoint);
  const settings = { bucket: BUCKET, region: TEST_CREDENTIALS.AWS_REGION, endpoint: proxy.endpoint };
  store = new S3Store(createS3Client(settings), settings);
});

afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  vi.unstubAllEnvs();
});

describeStoreContract('S3Store on the emulator', () => store);
