/**
 * Rotations the IdP completed but the store could not record (README
 * "Running several instances"): the IdP has already rotated its refresh
 * token, so dropping the result would lose the session. The instance keeps
 * the pair, answers the client's retry with it, and keeps writing it with
 * backoff until the store takes it, another instance took the claim over,
 * or the bound runs out.
 */
import type { ResolvedLogger } from "../core/log.ts";
import { describeError } from "../core/log.ts";
import { nowSeconds } from "../core/time.ts";
import type { TokenResponseBody } from "../core/token-response.ts";
import { RotationConflictError } from "../stores/common.ts";
import type { BrokerStore, Rotation } from "../stores/types.ts";

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 2000;
/** How long an instance keeps trying; well past any store outage worth riding out. */
const GIVE_UP_AFTER_MS = 10 * 60_000;
/** At most this many results are held; the oldest is dropped (and logged) beyond it. */
const MAX_HELD = 10_000;

interface Held {
  body: TokenResponseBody;
  nextHash: string;
  timer?: NodeJS.Timeout;
}

export class UnrecordedRotations {
  /** By the hash of the consumed token. */
  private readonly held = new Map<string, Held>();
  /** Hashes of tokens handed out in a held pair, not yet in the store. */
  private readonly unwritten = new Set<string>();

  constructor(private readonly logger: ResolvedLogger) {}

  /** The pair a held rotation of this consumed token produced. */
  answerFor(consumedHash: string): TokenResponseBody | undefined {
    return this.held.get(consumedHash)?.body;
  }

  /** Whether this token comes from a pair still being written (the client is ahead of the store). */
  isUnwritten(hash: string): boolean {
    return this.unwritten.has(hash);
  }

  /** Keeps the result and writes it in the background until the store takes it. */
  hold(store: BrokerStore, rotation: Rotation, body: TokenResponseBody, cause: unknown): void {
    const consumedHash = rotation.claim.hash;
    if (this.held.has(consumedHash)) return;
    this.dropOldestBeyondLimit();
    this.held.set(consumedHash, { body, nextHash: rotation.next.hash });
    this.unwritten.add(rotation.next.hash);
    this.logger.warn(
      `A refresh token rotation could not be recorded (${describeError(cause)}); this instance keeps the new pair and retries the write`,
      { session: rotation.next.sessionId },
    );
    this.retry(store, rotation, Date.now() + GIVE_UP_AFTER_MS, FIRST_DELAY_MS);
  }

  /** Stops every background write (BrokerSessions.close). */
  close(): void {
    for (const held of this.held.values()) clearTimeout(held.timer);
    this.held.clear();
    this.unwritten.clear();
  }

  private retry(store: BrokerStore, rotation: Rotation, giveUpAt: number, delayMs: number): void {
    const held = this.held.get(rotation.claim.hash);
    if (held === undefined) return;
    held.timer = setTimeout(async () => {
      try {
        await store.completeRotation({ ...rotation, completedAt: nowSeconds() });
        this.logger.info("A held refresh token rotation is now recorded", {
          session: rotation.next.sessionId,
        });
        this.forget(rotation.claim.hash);
      } catch (error) {
        if (error instanceof RotationConflictError || Date.now() >= giveUpAt) {
          this.logger.error(
            `A held refresh token rotation was given up (${describeError(error)}); that session must log in again`,
            { session: rotation.next.sessionId },
          );
          this.forget(rotation.claim.hash);
          return;
        }
        this.retry(store, rotation, giveUpAt, Math.min(delayMs * 2, MAX_DELAY_MS));
      }
    }, delayMs);
    held.timer.unref();
  }

  private forget(consumedHash: string): void {
    const held = this.held.get(consumedHash);
    if (held === undefined) return;
    clearTimeout(held.timer);
    this.held.delete(consumedHash);
    this.unwritten.delete(held.nextHash);
  }

  private dropOldestBeyondLimit(): void {
    if (this.held.size < MAX_HELD) return;
    const oldest = this.held.keys().next().value;
    if (oldest === undefined) return;
    this.logger.error("Too many unrecorded refresh token rotations; the oldest is dropped");
    this.forget(oldest);
  }
}
