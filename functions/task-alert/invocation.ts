/**
 * Turns the record Lambda sends to a failure destination (an asynchronous invocation of the
 * launcher or the monitor that still failed after Lambda's retries, or grew too old) into an alert
 * an operator can act on, instead of the raw JSON an SNS destination would mail. No AWS imports.
 */
import { z } from 'zod';
import { snsSubject } from '../../task/core/sns-subject.ts';
import { launchRequestSchema, verifyRequestSchema } from '../launch-backup/core.ts';
import { monitorEventSchema } from '../monitor/core.ts';

/** The invocation record of a Lambda destination (version 1.0). */
export const invocationRecordSchema = z.object({
  timestamp: z.string().optional(),
  requestContext: z.object({
    requestId: z.string().min(1),
    functionArn: z.string().min(1),
    condition: z.string().min(1),
    approximateInvokeCount: z.number().int().optional(),
  }),
  requestPayload: z.unknown(),
  responsePayload: z
    .object({ errorMessage: z.string().optional(), errorType: z.string().optional() })
    .passthrough()
    .nullish(),
});

/** Whether an event is a destination's invocation record rather than an ECS event. */
export function isInvocationRecord(event: unknown): boolean {
  return (
    typeof event === 'object' && event !== null && 'requestContext' in event && 'requestPayload' in event
  );
}

export const invokerLogGroupsSchema = z.object({
  launcher: z.string().min(1).optional(),
  monitor: z.string().min(1).optional(),
});
export type InvokerLogGroups = z.infer<typeof invokerLogGroupsSchema>;

const launchPayload = z.union([launchRequestSchema, verifyRequestSchema]);

const CONDITIONS: Readonly<Record<string, string>> = {
  RetriesExhausted: 'it failed on every attempt',
  EventAgeExceeded: 'it could not run within the maximum event age',
};

export interface InvocationAlert {
  readonly subject: string;
  readonly message: string;
  readonly reasons: readonly string[];
}

export function decideInvocationAlert(event: unknown, logGroups: InvokerLogGroups): InvocationAlert {
  const parsed = invocationRecordSchema.safeParse(event);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    return {
      subject: 'Failed Lambda invocation record could not be read',
      message: `A record of a failed invocation could not be parsed (${problems}). A scheduled backup, restore drill or health check may not have run.\n\n${JSON.stringify(event, null, 2)}`,
      reasons: [`unreadable invocation record: ${problems}`],
    };
  }
  const { requestContext: context, requestPayload, responsePayload, timestamp } = parsed.data;
  // arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
  const [, , , region = '', , , functionName = context.functionArn] = context.functionArn.split(':');
  const error = responsePayload?.errorMessage
    ? `${responsePayload.errorType ? `${responsePayload.errorType}: ` : ''}${responsePayload.errorMessage}`
    : '(no error message: the invocation did not run to an error)';
  const why = CONDITIONS[context.condition] ?? context.condition;
  const attempts = context.approximateInvokeCount;
  const launch = launchPayload.safeParse(requestPayload);
  const monitor = monitorEventSchema.safeParse(
    typeof requestPayload === 'object' && requestPayload !== null && 'mode' in requestPayload
      ? requestPayload
      : undefined,
  );
  let replay: unknown = requestPayload;
  let subject: string;
  let intro: string;
  let means: string;
  let todo: string;
  let logGroup: string | undefined;
  if (launch.success) {
    // A run by hand is a new request: without the schedule's time, which would make the launcher
    // reuse the failed run's RunTask client token.
    const { scheduledTime: _, ...request } = launch.data;
    replay = request;
    const { database } = launch.data;
    const tier = 'tier' in launch.data ? launch.data.tier : undefined;
    const what = tier ? `${tier} backup` : 'restore drill';
    subject = tier ? `Backup NOT STARTED: ${database} ${tier}` : `Restore drill NOT STARTED: ${database}`;
    intro = `The launcher did not start the ${what} of database ${database}: ${why}.`;
    means = tier
      ? `no ${tier} backup of ${database} was taken by this schedule; earlier backups are untouched.`
      : `the newest backup of ${database} was not test-restored this time; its verification alarm fires once verification is overdue.`;
    todo =
      '"(refused)" means another task of this database (backup, drill or restore) still ran: look at it in the ECS console; a backup that outlasts the gap to the next schedule needs a later schedule. "(failed)" means ecs:RunTask failed: the error names the cause (capacity, subnets, permissions). Then start the missed run by hand:';
    logGroup = logGroups.launcher;
  } else if (monitor.success) {
    replay = monitor.data;
    subject = `Backup monitor FAILED: ${monitor.data.mode}`;
    intro = `The backup monitor's scheduled ${monitor.data.mode} did not complete: ${why}.`;
    means =
      monitor.data.mode === 'report'
        ? 'the weekly backup report was not sent.'
        : 'backup health was not checked and its metrics were not emitted; the backup-age and verification alarms fire when the metrics stay missing.';
    todo = 'the error below and the log say why; once fixed, run it by hand:';
    logGroup = logGroups.monitor;
  } else {
    subject = `Invocation FAILED: ${functionName}`;
    intro = `An asynchronous invocation of ${functionName} did not complete: ${why}.`;
    means = 'whatever this invocation was to do did not happen.';
    todo = "the error below and the function's log say why; once fixed, run it again:";
  }

  // Synchronous, as in the README: the answer (task ARN, or the error) comes back at once.
  const invoke = `aws lambda invoke --function-name ${functionName} --cli-binary-format raw-in-base64-out --payload '${JSON.stringify(replay).replaceAll("'", "'\\''")}' /dev/stdout`;
  const lines = [
    intro,
    '',
    `What it means: ${means}`,
    `What to do: ${todo}`,
    `  ${invoke}`,
    '',
    `Error:       ${error}`,
    `Condition:   ${context.condition}${attempts === undefined ? '' : `, ${attempts} attempt${attempts === 1 ? '' : 's'}`}`,
    `Request:     ${JSON.stringify(requestPayload)}`,
    `Last try:    ${timestamp ?? '-'}`,
    `Function:    ${context.functionArn}`,
    `Request id:  ${context.requestId}`,
    ...(logGroup
      ? [
          '',
          `Logs: aws logs filter-log-events --region ${region} --log-group-name ${logGroup} --filter-pattern '"${context.requestId}"'`,
        ]
      : []),
  ];
  return {
    subject: snsSubject(subject),
    message: lines.join('\n'),
    reasons: [`${context.condition} after ${attempts ?? '?'} attempt(s): ${error}`],
  };
}
