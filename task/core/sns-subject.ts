/**
 * SNS email subjects, made in one place for every sender (the monitor's alert and report, the
 * task-failure alerts, backupctl's restore notifications). SNS refuses a Publish whose subject is
 * longer than 100 characters or holds anything but printable ASCII, so the alert itself would be
 * lost: a subject is made to fit rather than refused.
 */

export const SNS_SUBJECT_MAX = 100;

/**
 * `text` as an SNS subject: white space (line breaks too) folded to one space, any other character
 * outside printable ASCII as '?', and cut with '...' so that it and `tail` (e.g. " (+2 more)",
 * kept whole) fit in 100 characters.
 */
export function snsSubject(text: string, tail = ''): string {
  const clean = (value: string) => value.replace(/\s+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  const end = clean(tail).slice(0, SNS_SUBJECT_MAX);
  const room = SNS_SUBJECT_MAX - end.length;
  const head = clean(text).trim();
  const cut = head.length > room ? `${head.slice(0, Math.max(0, room - 3))}...`.slice(0, room) : head;
  return `${cut}${end}`;
}
