/**
 * CDK app entry: reads and validates the configuration from the context, creates the stack, and
 * runs cdk-nag's AWS Solutions checks on every synth.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BackupStack } from '../lib/backup-stack.ts';
import { ConfigError, loadConfig } from '../lib/config.ts';

const app = new App();
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(app.node.getAllContext());
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  for (const problem of error.problems) console.error(`config: ${problem}`);
  process.exit(1);
}
new BackupStack(app, String(app.node.tryGetContext('stackName') ?? 'ServerlessPgBackup'), {
  config,
  description: 'Scheduled, verified PostgreSQL and media backups (serverless-pg-backup)',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
