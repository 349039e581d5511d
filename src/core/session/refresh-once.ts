/**
 * One refresh per session at a time in this process (README "Browser
 * sessions"): requests that arrive with the same refresh token while it is
 * being used, or shortly after, share its answer instead of spending the
 * token again, which an IdP rotating refresh tokens would refuse (and
 * broker mode would see as reuse after its grace window). Across
 * instances, broker mode's own exactly-once rotation decides.
 */
import type { TokenResponseBody } from "../token-response.ts";

/** How long an answer is shared with requests still carrying the old cookie, in ms. */
const SHARE_MS = 30_000;
const MAX_ENTRIES = 10_000;

export class RefreshOnce {
  private readonly answers = new Map<
    string,
    { answer: Promise<TokenResponseBody>; until: number }
  >();

  constructor(private readonly refresh: (token: string) => Promise<TokenResponseBody>) {}

  run(refreshToken: string): Promise<TokenResponseBody> {
    const now = Date.now();
    const held = this.answers.get(refreshToken);
    if (held !== undefined && held.until > now) return held.answer;
    this.evict(now);
    const answer = this.refresh(refreshToken);
    const entry = { answer, until: Number.POSITIVE_INFINITY };
    this.answers.set(refreshToken, entry);
    answer.then(
      () => {
        entry.until = Date.now() + SHARE_MS;
      },
      // A failure is not shared: the next request may try again (the IdP may be back).
      () => this.answers.delete(refreshToken),
    );
    return answer;
  }

  private evict(now: number): void {
    if (this.answers.size < MAX_ENTRIES) return;
    for (const [token, { until }] of this.answers) if (until <= now) this.answers.delete(token);
    while (this.answers.size >= MAX_ENTRIES) {
      this.answers.delete(this.answers.keys().next().value as string);
    }
  }
}
