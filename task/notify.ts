/**
 * Tells the operators by SNS (email) when running in AWS: ALERT_TOPIC_ARN is set by the stack.
 * A notification that cannot be sent is logged, never turned into a failure of the work itself.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { snsSubject } from './core/sns-subject.ts';
import type { Logger } from './log.ts';

export interface Notifier {
  notify(subject: string, body: string): Promise<void>;
}

export function createNotifier(topicArn: string | undefined, logger: Logger, client?: SNSClient): Notifier {
  return {
    async notify(subject, body) {
      if (!topicArn) return;
      try {
        await (client ?? new SNSClient({})).send(
          new PublishCommand({ TopicArn: topicArn, Subject: snsSubject(subject), Message: body }),
        );
        logger.info('notification sent', { subject });
      } catch (error) {
        logger.warn('notification not sent', { subject, reason: (error as Error).message });
      }
    },
  };
}
