import { describe, expect, it } from 'vitest';
import { snsSubject } from '../../../task/core/sns-subject.ts';

describe('snsSubject', () => {
  it.each([
    ['Backup FAILED: app daily, exit 1', 'Backup FAILED: app daily, exit 1'],
    ['Restore of app\nfrom daily/app/x  FAILED', 'Restore of app from daily/app/x FAILED'],
    ['Sauvegarde échouée — app', 'Sauvegarde ?chou?e ? app'],
    ['tab\there', 'tab here'],
  ])('makes %j a one-line printable ASCII subject', (input, expected) => {
    expect(snsSubject(input)).toBe(expected);
  });

  it('cuts a long subject to 100 characters ending in "..."', () => {
    const subject = snsSubject(`Backup CRITICAL app: ${'x'.repeat(200)}`);

    expect(subject).toHaveLength(100);
    expect(subject.endsWith('...')).toBe(true);
  });

  it('keeps the tail whole when the text is cut', () => {
    const subject = snsSubject(`Backup CRITICAL app: ${'x'.repeat(200)}`, ' (+2 more)');

    expect(subject).toHaveLength(100);
    expect(subject.endsWith('... (+2 more)')).toBe(true);
  });
});
