/**
 * A value made on first use (discovery, a JWKS, a store connection): one
 * attempt shared by all concurrent callers. A failure is never kept for
 * good: after `backoff.firstMs` (doubling per failure up to `maxMs`) the
 * next caller tries again; before that, callers fail fast with the same
 * error. Without a backoff the very next call tries again.
 */
export interface Backoff {
  firstMs: number;
  maxMs: number;
}

const NO_BACKOFF: Backoff = { firstMs: 0, maxMs: 0 };

/** For what lives on the network (discovery, key sets, stores): from 250 ms up to 30 s. */
export const NETWORK_BACKOFF: Backoff = { firstMs: 250, maxMs: 30_000 };

export class Lazy<T> {
  private value: T | undefined;
  private inFlight: Promise<T> | undefined;
  private failures = 0;
  private retryAt = 0;
  private lastError: unknown;

  constructor(
    private readonly make: () => Promise<T>,
    private readonly backoff: Backoff = NO_BACKOFF,
  ) {}

  /** The value if it is already made, without waiting. */
  get current(): T | undefined {
    return this.value;
  }

  get(): Promise<T> {
    if (this.value !== undefined) return Promise.resolve(this.value);
    if (this.inFlight) return this.inFlight;
    if (Date.now() < this.retryAt) return Promise.reject(this.lastError);
    const attempt: Promise<T> = this.make().then(
      (value) => this.settle(attempt, value),
      (error: unknown) => this.fail(attempt, error),
    );
    this.inFlight = attempt;
    return attempt;
  }

  /** Forgets the value (or the attempt under way) and returns it, e.g. to close it. */
  take(): Promise<T> | undefined {
    const taken =
      this.inFlight ?? (this.value === undefined ? undefined : Promise.resolve(this.value));
    this.value = undefined;
    this.inFlight = undefined;
    return taken;
  }

  private settle(attempt: Promise<T>, value: T): T {
    // A take() while the attempt ran: its caller owns the value now.
    if (this.inFlight !== attempt) return value;
    this.value = value;
    this.failures = 0;
    this.inFlight = undefined;
    return value;
  }

  private fail(attempt: Promise<T>, error: unknown): never {
    if (this.inFlight === attempt) {
      this.failures += 1;
      const { firstMs, maxMs } = this.backoff;
      this.retryAt = Date.now() + Math.min(maxMs, firstMs * 2 ** (this.failures - 1));
      this.lastError = error;
      this.inFlight = undefined;
    }
    throw error;
  }
}
