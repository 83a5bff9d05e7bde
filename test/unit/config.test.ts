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
    [{ ...base, AWS_ENDPOINT_URL_S3: 'localhost:9000' }, 'AWS_ENDPOINT_URL_S3 must be http(s)://host'],
    [{ ...base, BACKUP_ZSTD_LEVEL: '25' }, 'BACKUP_ZSTD_LEVEL must be a whole number from 1 to 19, got: 25'],
    [
      { ...base, BACKUP_HEALTH_THRESHOLDS: '{daily: 26}' },
      'BACKUP_HEALTH_THRESHOLDS must be thresholds JSON as the monitor function holds it',
    ],
  ])('fails with a message naming the setting (%o)', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it.each([
    [{ BACKUP_PART_SIZE: '0x10' }, 'BACKUP_PART_SIZE must be whole MiB from 5 to 5120, got: 0x10'],
    [{ BACKUP_PART_SIZE: '1e1' }, 'BACKUP_PART_SIZE must be whole MiB'],
    [{ BACKUP_PART_SIZE: ' 16' }, 'BACKUP_PART_SIZE must be whole MiB'],
    [{ BACKUP_PART_SIZE: '16.0' }, 'BACKUP_PART_SIZE must be whole MiB'],
    [{ BACKUP_ZSTD_LEVEL: '0x3' }, 'BACKUP_ZSTD_LEVEL must be a whole number from 1 to 19, got: 0x3'],
    [{ BACKUP_S3_TIMEOUT: '0' }, 'BACKUP_S3_TIMEOUT must be whole seconds from 1 to 3600, got: 0'],
    [{ BACKUP_S3_TIMEOUT: '1.5' }, 'BACKUP_S3_TIMEOUT must be whole seconds'],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000junk' }, 'AWS_ENDPOINT_URL_S3 must be http(s)://host'],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000/junk' }, 'with nothing after it'],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000 x' }, 'with nothing after it'],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000?x=1' }, 'with nothing after it'],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:70000' }, 'with nothing after it'],
    [{ AWS_ENDPOINT_URL_S3: 'ftp://127.0.0.1' }, 'AWS_ENDPOINT_URL_S3 must be http(s)://host'],
    [{ AWS_ENDPOINT_URL_S3: 'https://key:secret@s3.example' }, 'got: https://…@s3.example'],
    [{ AWS_ENDPOINT_URL: 'http://minio:9000/x' }, 'AWS_ENDPOINT_URL must be http(s)://host'],
    [{ BACKUP_LOCK_WAIT_TIMEOUT: '2147483648ms' }, "PostgreSQL's lock_timeout limit), got: 2147483648ms"],
    [{ BACKUP_LOCK_WAIT_TIMEOUT: '2147484s' }, "PostgreSQL's lock_timeout limit"],
    [{ BACKUP_LOCK_WAIT_TIMEOUT: '35792min' }, "PostgreSQL's lock_timeout limit"],
    [{ BACKUP_LOCK_WAIT_TIMEOUT: '0s' }, 'BACKUP_LOCK_WAIT_TIMEOUT must be from 1ms to 2147483647ms'],
    [{ PGDATABASE: 'my db' }, 'PGDATABASE must be a database name of 1-63 letters'],
    [{ PGDATABASE: 'q"uote' }, 'got: q"uote'],
    [{ PGDATABASE: 'données' }, 'got: données'],
    [{ PGDATABASE: '-app' }, 'PGDATABASE must be a database name'],
    [{ PGDATABASE: 'x'.repeat(64) }, 'PGDATABASE must be a database name'],
  ])('refuses a malformed or out-of-range setting (%o)', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });

  it.each([
    ['a postgresql:// URI', 'postgresql://app:s3cret@db.internal:5432/app', /connection URI/],
    ['a postgres:// URI', 'postgres://app:s3cret@db.internal/app?sslmode=require', /connection URI/],
    ['an upper-case URI', 'POSTGRESQL://app:s3cret@db.internal/app', /connection URI/],
    ['a conninfo string', 'host=db.internal dbname=app password=s3cret', /connection string \("key=value"\)/],
    ['a single key=value', 'password=s3cret', /connection string/],
  ])('refuses %s in PGDATABASE without echoing it', (_, value, message) => {
    let error: unknown;
    try {
      loadConfig({ ...base, PGDATABASE: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toMatch(/PGHOST, PGPORT, PGUSER, PGPASSWORD/);
    expect((error as Error).message).not.toMatch(/s3cret|db\.internal/);
  });

  it.each([
    [{ BACKUP_PART_SIZE: '5' }, { partSize: 5 * 1024 * 1024 }],
    [{ BACKUP_PART_SIZE: '016' }, { partSize: 16 * 1024 * 1024 }],
    [{ BACKUP_ZSTD_LEVEL: '19' }, { zstdLevel: 19 }],
    [{ BACKUP_S3_TIMEOUT: '60' }, { store: expect.objectContaining({ answerTimeoutMs: 60_000 }) }],
    [{ BACKUP_LOCK_WAIT_TIMEOUT: '2147483647ms' }, { lockWaitTimeout: '2147483647ms' }],
    [{ BACKUP_LOCK_WAIT_TIMEOUT: '35791min' }, { lockWaitTimeout: '35791min' }],
    [{ BACKUP_LOCK_WAIT_TIMEOUT: '1' }, { lockWaitTimeout: '1' }],
    [{ AWS_ENDPOINT_URL_S3: 'https://s3.eu-west-1.amazonaws.com' }, {}],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000/' }, {}],
    [{ AWS_ENDPOINT_URL_S3: 'http://[::1]:9000' }, {}],
    [{ AWS_ENDPOINT_URL_S3: 'http://minio' }, {}],
    [{ PGDATABASE: 'app_2.prod-eu' }, { database: 'app_2.prod-eu' }],
  ])('accepts a well-formed setting (%o)', (env, expected) => {
    expect(loadConfig({ ...base, ...env })).toMatchObject(expected);
  });

  it('treats an empty PGDATABASE as unset (libpq then uses the user name)', () => {
    expect(loadConfig({ ...base, PGDATABASE: '' }).database).toBeUndefined();
  });

  it('reports every problem at once', () => {
    expect(() => loadConfig({ BACKUP_PART_SIZE: 'x' })).toThrow(
      /BACKUP_BUCKET is not set; AWS_REGION is not set; BACKUP_PART_SIZE/,
    );
  });
});
