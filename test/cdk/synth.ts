/**
 * Synthesizes the stack the way `npx cdk synth` does: cdk.json's context (feature flags and the
 * example configuration), optional overrides, and cdk-nag's AWS Solutions checks on the app.
 */
import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BackupStack } from '../../lib/backup-stack.ts';
import { loadConfig } from '../../lib/config.ts';
import { ReplicaStack } from '../../lib/replica-stack.ts';

export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
).context;

export interface Synthesized {
  readonly app: App;
  readonly stack: BackupStack;
  readonly template: Template;
}

/**
 * @param context context keys on top of cdk.json's (e.g. `{ 'backup.timeZone': 'Europe/Berlin' }`)
 * @param bundle bundle the Lambdas with esbuild (slow); off, CDK stages a placeholder instead
 */
export function synthesize(context: Record<string, unknown> = {}, bundle = false): Synthesized {
  const app = new App({
    context: { ...CDK_JSON_CONTEXT, ...context, ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const stack = new BackupStack(app, 'Test', { config: loadConfig(app.node.getAllContext()) });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  // Template.fromStack synthesizes the app, which runs the validation plugins and throws on a finding.
  const template = Template.fromStack(stack);
  return { app, stack, template };
}

/** cdk-nag findings for the app, as "rule at path" lines (empty when clean). */
export function nagFindings(app: App): string[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`),
  );
}

export interface SynthesizedWithReplica extends Synthesized {
  readonly replica: ReplicaStack;
  readonly replicaTemplate: Template;
}

/**
 * Both stacks as bin/app.ts builds them when `replica` is configured: the primary in `primary`'s
 * environment, the replica in its own region (and account, if given).
 */
export function synthesizeWithReplica(
  context: Record<string, unknown>,
  primary: { account: string; region: string } = { account: '111111111111', region: 'eu-west-1' },
): SynthesizedWithReplica {
  const app = new App({ context: { ...CDK_JSON_CONTEXT, ...context, 'aws:cdk:bundling-stacks': [] } });
  const config = loadConfig(app.node.getAllContext());
  const stack = new BackupStack(app, 'Test', { config, env: primary });
  if (!config.replica || !stack.replica) throw new Error('the context must configure a replica');
  const replica = new ReplicaStack(app, stack.replica.stackName, {
    config,
    placement: stack.replica,
    env: { account: config.replica.account ?? primary.account, region: config.replica.region },
  });
  stack.addStackDependency(replica);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const template = Template.fromStack(stack);
  return { app, stack, template, replica, replicaTemplate: Template.fromStack(replica) };
}
