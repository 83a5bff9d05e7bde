/**
 * Starts one database's backup task: `{ database, tier }` (a backup) or `{ database, action:
 * "verify" }` (the restore drill) in, task ARN out. Anything but a started
 * task throws, so Lambda's asynchronous retries and failure destination (the alert topic) see it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { type EcsPort, launchBackup, launchSettingsSchema } from './core.ts';

const logger = new Logger({ serviceName: 'launch-backup' });
const ecs = new ECSClient({});

const settings = launchSettingsSchema.parse({
  clusterArn: process.env.CLUSTER_ARN,
  containerName: process.env.CONTAINER_NAME,
  subnetIds: (process.env.SUBNET_IDS ?? '').split(',').filter(Boolean),
  assignPublicIp: process.env.ASSIGN_PUBLIC_IP === 'ENABLED',
  targets: JSON.parse(process.env.TARGETS ?? '{}'),
});

const port: EcsPort = {
  async listActiveTasks(cluster, family) {
    const { taskArns = [] } = await ecs.send(
      new ListTasksCommand({ cluster, family, desiredStatus: 'RUNNING' }),
    );
    return taskArns;
  },
  async runTask(request) {
    const { tasks = [], failures = [] } = await ecs.send(new RunTaskCommand(request));
    return {
      taskArns: tasks.flatMap((task) => (task.taskArn ? [task.taskArn] : [])),
      failures: failures.map((f) => [f.arn, f.reason, f.detail].filter(Boolean).join(': ')),
    };
  },
};

export async function handler(event: unknown): Promise<{ taskArn: string }> {
  const verdict = await launchBackup(event, settings, port);
  if (verdict.status !== 'started') {
    logger.error('backup not started', { status: verdict.status, reasons: verdict.reasons, event });
    throw new Error(`Backup not started (${verdict.status}): ${verdict.reasons.join('; ')}`);
  }
  logger.info('backup task started', {
    taskArn: verdict.taskArn,
    database: verdict.database,
    ...('tier' in verdict ? { tier: verdict.tier } : { action: verdict.action }),
  });
  return { taskArn: verdict.taskArn };
}
