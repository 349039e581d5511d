/**
 * Instant revocation (docs/broker.md "Instant revocation"), optional: when a
 * session ends (logout, RFC 7009 revocation, back-channel logout, refresh
 * token reuse, the IdP refusing a refresh), its id goes on a deny-list in
 * the shared store for as long as its access tokens live, and every
 * instance refuses tokens whose `sid` is on it.
 *
 * The guards' hot path reads a local answer per `sid`, synchronously; the
 * store is asked again only when that answer is older than the recheck
 * interval (one shared call per `sid`, however many requests wait). So a
 * revocation reaches every instance within the interval plus one store
 * call. A denial is final: a denied `sid` is not asked about again.
 */
import type { IDToken } from "../core/claims.ts";
import { AuthError, unavailable } from "../core/errors.ts";
import { describeError, type Logger } from "../core/log.ts";
import { nowSeconds } from "../core/time.ts";
import type { BrokerStore } from "../stores/types.ts";

/** Most `sid`s answered locally (oldest out first); a dropped one is asked about again. */
const MAX_ANSWERS = 100_000;

interface Answer {
  denied: boolean;
  /** `Date.now()` of the store's answer. */
  checkedAt: number;
}

export interface DenyListSettings {
  /** How long a "not denied" answer is used before the store is asked again. */
  recheckMs: number;
  /** How long a denial lasts: the longest life of an access token, clock tolerance included. */
  denySeconds: number;
  logger: Logger;
}

export class SessionDenyList {
  private readonly answers = new Map<string, Answer>();
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(
    private readonly store: () => Promise<BrokerStore>,
    private readonly settings: DenyListSettings,
  ) {}

  /** Whether the token's session was revoked: synchronous while the local answer is fresh. */
  revoked(claims: IDToken): boolean | Promise<boolean> {
    const sid = claims.sid;
    // Tokens without a session (none are minted here) have nothing to revoke.
    if (typeof sid !== "string") return false;
    const known = this.answers.get(sid);
    if (
      known !== undefined &&
      (known.denied || Date.now() - known.checkedAt < this.settings.recheckMs)
    ) {
      return known.denied;
    }
    return this.ask(sid);
  }

  /**
   * The store as the broker uses it, with every revocation also denying:
   * each revoking call site is covered, and none needs to know.
   */
  watching(store: BrokerStore): BrokerStore {
    const revokeSession = async (id: string) => {
      await this.deny(store, [id]);
      await store.revokeSession(id);
    };
    const revokeSessionsOf: BrokerStore["revokeSessionsOf"] = async (who) => {
      await this.deny(store, await store.sessionIdsOf(who));
      return store.revokeSessionsOf(who);
    };
    return new Proxy(store, {
      get(target, name) {
        if (name === "revokeSession") return revokeSession;
        if (name === "revokeSessionsOf") return revokeSessionsOf;
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  /** Denied before the session is deleted, so that no moment exists where it is neither. */
  private async deny(store: BrokerStore, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await store.denySessions(ids, nowSeconds() + this.settings.denySeconds);
    for (const id of ids) this.remember(id, true);
  }

  private ask(sid: string): Promise<boolean> {
    let answer = this.pending.get(sid);
    if (answer === undefined) {
      answer = this.store()
        .then((store) => store.isSessionDenied(sid))
        .catch((error: unknown) => {
          // Fail closed: a token whose session cannot be checked is not accepted (503, not 500).
          if (error instanceof AuthError) throw error;
          this.settings.logger.error(
            `The broker store's deny-list cannot be read: ${describeError(error)}`,
          );
          throw unavailable("The session store cannot be reached; try again shortly.");
        })
        .then((denied) => {
          this.remember(sid, denied);
          return denied;
        })
        .finally(() => this.pending.delete(sid));
      this.pending.set(sid, answer);
    }
    return answer;
  }

  private remember(sid: string, denied: boolean): void {
    this.answers.delete(sid);
    if (this.answers.size >= MAX_ANSWERS) {
      const oldest = this.answers.keys().next();
      if (oldest.done !== true) this.answers.delete(oldest.value);
    }
    this.answers.set(sid, { denied, checkedAt: Date.now() });
  }
}
