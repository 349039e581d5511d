/** NestJS's packages, loaded with the package to install named when one is missing. */
import { importPeer } from "../../core/peer.ts";

const usedBy = "ts-oidc-auth/nestjs";

// Nest's decorators store their metadata with reflect-metadata's API.
await importPeer("reflect-metadata", usedBy);

export const common = await importPeer<typeof import("@nestjs/common")>("@nestjs/common", usedBy);
export const core = await importPeer<typeof import("@nestjs/core")>("@nestjs/core", usedBy);
