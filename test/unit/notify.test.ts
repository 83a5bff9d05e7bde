import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../task/log.ts';
import { createNotifier } from '../../task/notify.ts';

const sns = mockClient(SNSClient);
const quiet = () => {
  const lines: string[] = [];
  const out = { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream;
  return { logger: createLogger({ json: true, out }), lines };
};

afterEach(() => sns.reset());

describe('createNotifier', () => {
  it('publishes to the topic with a one-line subject of at most 100 characters', async () => {
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const { logger } = quiet();
    await createNotifier('arn:aws:sns:eu-west-1:1:alerts', logger, new SNSClient({})).notify(
      `Restore of app\nfrom ${'x'.repeat(200)}`,
      'body',
    );
    const input = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(input?.TopicArn).toBe('arn:aws:sns:eu-west-1:1:alerts');
    expect(input?.Subject).toHaveLength(100);
    expect(input?.Subject).not.toContain('\n');
  });

  it('replaces characters SNS refuses in a subject, so the notification is not lost', async () => {
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    await createNotifier('arn:aws:sns:eu-west-1:1:alerts', quiet().logger, new SNSClient({})).notify(
      'Restore of café from daily/café/20261126T020000Z — FAILED',
      'body',
    );
    const input = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(input?.Subject).toBe('Restore of caf? from daily/caf?/20261126T020000Z ? FAILED');
  });

  it('sends nothing outside AWS (no topic configured)', async () => {
    await createNotifier(undefined, quiet().logger, new SNSClient({})).notify('s', 'b');
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('logs, and does not fail the restore, when SNS refuses', async () => {
    sns.on(PublishCommand).rejects(new Error('AuthorizationError: not allowed'));
    const { logger, lines } = quiet();
    await createNotifier('arn:aws:sns:eu-west-1:1:alerts', logger, new SNSClient({})).notify('s', 'b');
    expect(lines.join('')).toContain('notification not sent');
  });
});
