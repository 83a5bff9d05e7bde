import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../task/config.ts';
import { ConfigError } from '../../task/errors.ts';

const base = { BACKUP_BUCKET: 'my-backups', AWS_REGION: 'eu-west-1' };

describe('loadConfig', () => {
  it('reads the documented variables', () => {
    const config = loadConfig({
      ...base,
      BACKUP_PREFIX: 'prod',
      MEDIA_DIR: '/srv/media',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
      BACKUP_PART_SIZE: '16',
    });
    expect(config.store).toEqual({
      bucket: 'my-backups',
      prefix: 'prod/',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9000',
    });
    expect(config.mediaDir).toBe('/srv/media');
    expect(config.partSize).toBe(16 * 1024 * 1024);
    expect(config.lockWaitTimeout).toBe('120s');
  });

  it.each([
    [{ AWS_REGION: 'eu-west-1' }, 'BACKUP_BUCKET is not set'],
    [
      { BACKUP_BUCKET: 'Bad_Bucket', AWS_REGION: 'x' },
      'BACKUP_BUCKET is not a valid bucket name, got: Bad_Bucket',
    ],
    [{ BACKUP_BUCKET: 'ok-bucket' }, 'AWS_REGION is not set'],
    [{ ...base, BACKUP_PREFIX: '../other' }, 'BACKUP_PREFIX must be path segments'],
    [{ ...base, BACKUP_PART_SIZE: '4' }, 'BACKUP_PART_SIZE must be whole MiB from 5 to 5120, got: 4'],
    [{ ...base, BACKUP_LOCK_WAIT_TIMEOUT: 'soon' }, 'BACKUP_LOCK_WAIT_TIMEOUT must be a duration'],
    [{ ...base, AWS_ENDPOINT_URL_S3: 'localhost:9000' }, 'AWS_ENDPOINT_URL_S3 must be an http(s) URL'],
    [{ ...base, BACKUP_ZSTD_LEVEL: '25' }, 'BACKUP_ZSTD_LEVEL must be a whole number from 1 to 19, got: 25'],
    [
      { ...base, BACKUP_HEALTH_THRESHOLDS: '{daily: 26}' },
      "BACKUP_HEALTH_THRESHOLDS must be the monitor's THRESHOLDS JSON",
    ],
  ])('fails with a message naming the setting (%o)', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reports every problem at once', () => {
    expect(() => loadConfig({ BACKUP_PART_SIZE: 'x' })).toThrow(
      /BACKUP_BUCKET is not set; AWS_REGION is not set; BACKUP_PART_SIZE/,
    );
  });
});
