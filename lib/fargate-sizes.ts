/**
 * Fargate's task sizes, stated once for the configuration (lib/config.ts) and the constructs that
 * take a size (lib/backup-task.ts, lib/restore.ts).
 */

/**
 * Fargate's valid CPU units → memory MiB range and step
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size).
 */
export const FARGATE_SIZES: Readonly<Record<number, { min: number; max: number; step: number }>> = {
  256: { min: 512, max: 2048, step: 512 },
  512: { min: 1024, max: 4096, step: 1024 },
  1024: { min: 2048, max: 8192, step: 1024 },
  2048: { min: 4096, max: 16384, step: 1024 },
  4096: { min: 8192, max: 30720, step: 1024 },
  8192: { min: 16384, max: 61440, step: 4096 },
  16384: { min: 32768, max: 122880, step: 8192 },
};

/** The backup and restore tasks' size when none is configured. */
export const DEFAULT_TASK_SIZE = { cpu: 1024, memoryMiB: 2048 } as const;

/** The task's ephemeral storage (backing /tmp, where the drill's scratch cluster lives) when none is configured. */
export const DEFAULT_EPHEMERAL_STORAGE_GIB = 50;

/**
 * What is wrong with a CPU/memory pair, one sentence naming the setting by the caller's names
 * (`task.cpu` in the configuration, `cpu` in a construct's props), or undefined when Fargate takes it.
 */
export function fargateSizeProblem(
  cpu: number,
  memoryMiB: number,
  names: { readonly cpu: string; readonly memoryMiB: string } = { cpu: 'cpu', memoryMiB: 'memoryMiB' },
): { readonly key: 'cpu' | 'memoryMiB'; readonly message: string } | undefined {
  const size = FARGATE_SIZES[cpu];
  if (!size) {
    return {
      key: 'cpu',
      message: `${names.cpu} must be one of Fargate's CPU sizes (${Object.keys(FARGATE_SIZES).join(', ')})`,
    };
  }
  if (memoryMiB < size.min || memoryMiB > size.max || (memoryMiB - size.min) % size.step !== 0) {
    return {
      key: 'memoryMiB',
      message: `${names.memoryMiB} must be ${size.min}-${size.max} in steps of ${size.step} for ${names.cpu} ${cpu}`,
    };
  }
  return undefined;
}
