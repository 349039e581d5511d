/**
 * A value fetched on first use (discovery, JWKS): one fetch shared by all
 * concurrent callers; after a failure, callers fail fast until a backoff
 * delay has passed, then the next caller tries again. A failure is never
 * cached for good.
 */
export class RetryingLazy<T> {
  private value: T | undefined;
  private inFlight: Promise<T> | undefined;
  private failures = 0;
  private retryAt = 0;
  private lastError: unknown;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly backoff = { firstMs: 250, maxMs: 30_000 },
  ) {}

  /** The value if it is already loaded, without waiting. */
  get current(): T | undefined {
    return this.value;
  }

  get(): Promise<T> {
    if (this.value !== undefined) return Promise.resolve(this.value);
    if (this.inFlight) return this.inFlight;
    if (Date.now() < this.retryAt) return Promise.reject(this.lastError);
    this.inFlight = this.load().then(
      (value) => {
        this.value = value;
        this.failures = 0;
        this.inFlight = undefined;
        return value;
      },
      (error: unknown) => {
        this.failures += 1;
        const delay = Math.min(this.backoff.maxMs, this.backoff.firstMs * 2 ** (this.failures - 1));
        this.retryAt = Date.now() + delay;
        this.lastError = error;
        this.inFlight = undefined;
        throw error;
      },
    );
    return this.inFlight;
  }
}
