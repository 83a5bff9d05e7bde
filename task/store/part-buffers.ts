/**
 * A fixed set of part buffers, reused for every part of one upload. A freshly allocated 5 MiB
 * buffer costs its page faults on first touch, and those are most of what a part copy costs in
 * a VM (100 × 5 MiB: 960 ms into fresh buffers, 36–90 ms into reused ones); a buffer that comes
 * back from a finished part is touched already. Buffers are allocated on first need, so a body
 * smaller than a part holds one buffer, not the whole set.
 */
export class PartBuffers {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(buffer: Buffer) => void> = [];
  private allocated = 0;

  constructor(
    readonly size: number,
    private readonly count: number,
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`part size must be a positive integer, got: ${size}`);
    if (!Number.isInteger(count) || count < 1) throw new Error(`buffer count must be >= 1, got: ${count}`);
  }

  /** A free buffer now, or undefined while all are in use. */
  tryTake(): Buffer | undefined {
    const buffer = this.free.pop();
    if (buffer || this.allocated === this.count) return buffer;
    this.allocated += 1;
    // Unzeroed: only the bytes copied in are ever sent (a part is a view of its filled length).
    return Buffer.allocUnsafeSlow(this.size);
  }

  /** A free buffer; waits while all are in use, and rejects with the reason when `signal` fires. */
  take(signal: AbortSignal): Promise<Buffer> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const buffer = this.tryTake();
    if (buffer) return Promise.resolve(buffer);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(handOver), 1);
        reject(signal.reason);
      };
      const handOver = (b: Buffer) => {
        signal.removeEventListener('abort', onAbort);
        resolve(b);
      };
      this.waiting.push(handOver);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Returns a buffer whose part is done with it (sent, or given up). */
  give(buffer: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }
}
