/**
 * The settings that cross from the stack to the task and the Lambdas: one name per setting
 * everywhere, and the key prefix carried end to end (lifecycle, grants, task, functions).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/config.ts';
import { loadConfig as loadTaskConfig } from '../../task/config.ts';
import { type Synthesized, synthesize } from './synth.ts';

type Resource = { Properties: Record<string, unknown> };

/** Every Lambda's variables by logical id prefix, and every container's, as name → value maps. */
function environments({ template }: Synthesized) {
  const functions = Object.entries(template.findResources('AWS::Lambda::Function')).map(([id, r]) => ({
    id,
    env:
      ((r as Resource).Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables ?? {},
  }));
  const containers = Object.entries(template.findResources('AWS::ECS::TaskDefinition')).flatMap(([id, r]) =>
    (
      (r as Resource).Properties.ContainerDefinitions as {
        Environment?: { Name: string; Value: unknown }[];
      }[]
    ).map((c) => ({ id, env: Object.fromEntries((c.Environment ?? []).map((e) => [e.Name, e.Value])) })),
  );
  const only = (list: { id: string; env: Record<string, unknown> }[], prefix: string) => {
    const found = list.filter((f) => f.id.startsWith(prefix));
    expect(found.length, `resources starting with ${prefix}`).toBeGreaterThan(0);
    return found.map((f) => f.env);
  };
  return {
    all: [...functions, ...containers].map((f) => f.env),
    monitor: only(functions, 'MonitorFunction')[0] ?? {},
    restore: only(functions, 'RestoreFunction')[0] ?? {},
    alerter: only(functions, 'TaskAlertsFunction')[0] ?? {},
    backupTask: only(containers, 'TaskDb0')[0] ?? {},
    restoreTask: only(containers, 'RestoreDb0')[0] ?? {},
  };
}

describe('settings passed by the stack', () => {
  let env: ReturnType<typeof environments>;
  beforeAll(() => {
    env = environments(synthesize());
  });

  it('names the bucket, prefix, topic and thresholds alike in the task and every function', () => {
    const names = env.all.flatMap((e) => Object.keys(e));

    expect(names.filter((n) => ['BUCKET', 'PREFIX', 'TOPIC_ARN', 'THRESHOLDS'].includes(n))).toEqual([]);
    expect(env.monitor.BACKUP_BUCKET).toEqual(env.backupTask.BACKUP_BUCKET);
    expect(env.restore.BACKUP_BUCKET).toEqual(env.backupTask.BACKUP_BUCKET);
    expect(env.monitor.ALERT_TOPIC_ARN).toEqual(env.restoreTask.ALERT_TOPIC_ARN);
    expect(env.alerter.ALERT_TOPIC_ARN).toEqual(env.restoreTask.ALERT_TOPIC_ARN);
  });

  it("gives backupctl the deployed monitor's thresholds when its variable is copied as it is", () => {
    const value = env.monitor.BACKUP_HEALTH_THRESHOLDS;
    expect(typeof value).toBe('string');

    const config = loadTaskConfig({
      BACKUP_BUCKET: 'copied-from-the-stack',
      AWS_REGION: 'eu-west-1',
      BACKUP_HEALTH_THRESHOLDS: value as string,
    });

    expect(config.healthThresholds).toEqual(JSON.parse(value as string));
  });
});

describe('backup.prefix', () => {
  let synth: Synthesized;
  let env: ReturnType<typeof environments>;
  let policies: string;
  beforeAll(() => {
    synth = synthesize({ 'backup.prefix': 'prod/' });
    env = environments(synth);
    policies = JSON.stringify(synth.template.findResources('AWS::IAM::Policy'));
  });

  it('tells the backup task, the restore task and the functions that read backups', () => {
    expect(env.backupTask.BACKUP_PREFIX).toBe('prod/');
    expect(env.restoreTask.BACKUP_PREFIX).toBe('prod/');
    expect(env.restore.BACKUP_PREFIX).toBe('prod/');
    expect(env.monitor.BACKUP_PREFIX).toBe('prod/');
  });

  it('expires every tier below the prefix', () => {
    const bucket = Object.values(synth.template.findResources('AWS::S3::Bucket')).find(
      (b) => (b as Resource).Properties.VersioningConfiguration !== undefined,
    ) as Resource;
    const rules = (bucket.Properties.LifecycleConfiguration as { Rules: { Prefix?: string }[] }).Rules;

    expect(rules.flatMap((r) => r.Prefix ?? [])).toEqual([
      'prod/daily/',
      'prod/weekly/',
      'prod/monthly/',
      'prod/pre-restore/',
    ]);
  });

  it('grants backups, locks and listings below the prefix only', () => {
    for (const key of ['/prod/daily/app/*', '/prod/pre-restore/*', '/prod/locks/app.json', 'prod/daily/*']) {
      expect(policies).toContain(key);
    }
    expect(policies).not.toMatch(/"\/(daily|weekly|monthly|pre-restore|locks)\//);
  });

  it.each(['../other', '/prod', 'a//b'])('fails a prefix %s that could escape or alias another', (prefix) => {
    expect(() => synthesize({ 'backup.prefix': prefix })).toThrow(ConfigError);
    expect(() => synthesize({ 'backup.prefix': prefix })).toThrow(
      `prefix must be path segments of letters, digits, "_", ".", "=" or "-" (e.g. "prod/"), got: "${prefix}"`,
    );
  });
});
