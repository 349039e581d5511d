/**
 * Trusted peers (docs/broker.md "Broker mode", Federation): each peer's JWKS is fetched asynchronously,
 * cached, persisted in the store and refetched on an unknown `kid` with a
 * cooldown. A peer that is down when this instance starts is still trusted
 * through its persisted keys. Each key set only ever verifies tokens whose
 * `iss` is its own peer (the caller picks the set by issuer).
 */
import type { JSONWebKeySet } from "jose";
import { fetchJwks, type KeySetTiming, RefreshingKeySet } from "../core/keyset.ts";
import { describeError, type Logger } from "../core/log.ts";
import { nowSeconds } from "../core/time.ts";
import type { BrokerStore } from "../stores/types.ts";

export interface Peer {
  issuer: string;
  jwksUri: URL;
}

export class TrustedPeers {
  private readonly keySets = new Map<string, RefreshingKeySet>();
  private seeded: Promise<void> | undefined;

  constructor(
    private readonly peers: readonly Peer[],
    private readonly store: () => Promise<BrokerStore>,
    timing: KeySetTiming & { timeoutMs: number },
    private readonly logger: Logger,
  ) {
    for (const peer of peers) {
      const load = () => this.fetchAndPersist(peer, timing.timeoutMs);
      const onError = (error: unknown) =>
        logger.warn(`Fetching the keys of peer ${peer.issuer} failed: ${describeError(error)}`);
      const onWarning = (message: string) =>
        logger.warn(`The keys of peer ${peer.issuer}: ${message}`);
      this.keySets.set(peer.issuer, new RefreshingKeySet(load, timing, onError, onWarning));
    }
  }

  /** The key set of a trusted issuer, seeded from the store first; undefined for strangers. */
  async keysFor(issuer: string): Promise<RefreshingKeySet | undefined> {
    const keySet = this.keySets.get(issuer);
    if (keySet === undefined) return undefined;
    this.seeded ??= this.seedFromStore();
    await this.seeded;
    return keySet;
  }

  /** Persisted keys make a peer that is down at start-up still trusted. */
  private async seedFromStore(): Promise<void> {
    try {
      const store = await this.store();
      for (const peer of this.peers) {
        const persisted = await store.loadPeerJwks(peer.issuer);
        if (persisted)
          this.keySets.get(peer.issuer)?.seed(JSON.parse(persisted.jwks) as JSONWebKeySet);
      }
    } catch (error) {
      this.logger.warn(`Loading persisted peer keys failed: ${describeError(error)}`);
    }
  }

  private async fetchAndPersist(peer: Peer, timeoutMs: number): Promise<JSONWebKeySet> {
    const jwks = await fetchJwks(peer.jwksUri, timeoutMs);
    const persist = async () =>
      (await this.store()).savePeerJwks(peer.issuer, JSON.stringify(jwks), nowSeconds());
    persist().catch((error: unknown) =>
      this.logger.warn(
        `Persisting the keys of peer ${peer.issuer} failed: ${describeError(error)}`,
      ),
    );
    return jwks;
  }
}
