/**
 * backupctl's exit codes, and what each means to an operator reading a task-failure alert.
 * Shared by backupctl (which exits with them) and the alert Lambda (which explains them).
 */
export const EXIT = {
  ok: 0,
  /** The work failed; the message names the cause. */
  failed: 1,
  /** A setting or argument was wrong; nothing was read or written. */
  usage: 2,
  /** The restore drill could not run (S3, disk, memory, scratch server): the backup was not judged. */
  drillNotRun: 3,
} as const;

export const EXIT_CODE_MEANINGS: Readonly<Record<number, string>> = {
  [EXIT.failed]: 'backupctl reported a failure',
  [EXIT.usage]: 'backupctl configuration error',
  [EXIT.drillNotRun]: 'the restore drill could not run; the backup was not judged',
  137: 'killed (SIGKILL): out of memory or forced stop',
  139: 'crashed (SIGSEGV)',
  143: 'terminated (SIGTERM): the task was stopped',
};
