/**
 * CDK app entry: reads and validates the configuration from the context, creates the stack, and
 * runs cdk-nag's AWS Solutions checks on every synth.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BackupStack } from '../lib/backup-stack.ts';
import { ConfigError, loadConfig, replicaPlacementProblems } from '../lib/config.ts';
import { ReplicaStack } from '../lib/replica-stack.ts';

const app = new App();
const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(app.node.getAllContext());
  const problems = replicaPlacementProblems(config, env);
  if (problems.length > 0) throw new ConfigError(problems);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  for (const problem of error.problems) console.error(`config: ${problem}`);
  process.exit(1);
}
const primary = new BackupStack(app, String(app.node.tryGetContext('stackName') ?? 'ServerlessPgBackup'), {
  config,
  description: 'Scheduled, verified PostgreSQL and media backups (serverless-pg-backup)',
  env,
});
if (config.replica && primary.replica) {
  // Deployed first (cdk deploy --all orders it): the primary's replication rules name its bucket.
  const replica = new ReplicaStack(app, primary.replica.stackName, {
    config,
    placement: primary.replica,
    description: 'Offsite replica of the serverless-pg-backup backups',
    env: { account: config.replica.account ?? env.account, region: config.replica.region },
  });
  primary.addStackDependency(replica, 'the replication rules name the replica bucket, which must exist');
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
