/**
 * One log line per store outage, not one per request (README "Running
 * several instances"): while the store is down every request fails the
 * same way, and a line each would bury the first, which names the cause.
 */
import type { LogFields, ResolvedLogger } from "../core/log.ts";

export class StoreOutage {
  private since: number | undefined;

  constructor(private readonly logger: ResolvedLogger) {}

  /** A failed store call: an error line when it starts an outage, a debug line after. */
  failed(message: string, fields: LogFields): void {
    if (this.since !== undefined) {
      this.logger.debug(message, fields);
      return;
    }
    this.since = Date.now();
    this.logger.error(
      `${message}; requests needing the store answer 503 until it is back (not logged again until then)`,
      fields,
    );
  }

  /** A store call that worked: ends the outage, if there was one. */
  succeeded(): void {
    if (this.since === undefined) return;
    const seconds = ((Date.now() - this.since) / 1000).toFixed(1);
    this.since = undefined;
    this.logger.warn(`The broker store answers again (it failed for ${seconds} s).`, {
      outageSeconds: Number(seconds),
    });
  }
}
