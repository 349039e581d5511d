/**
 * `OIDCAuth`, where the layers meet: the core (src/core) with broker mode
 * (src/broker) plugged in when `brokerMode` is on. The adapters build on
 * this class; the core itself knows nothing of the broker.
 */
import { Broker } from "./broker/broker.ts";
import {
  BROKER_OPTION_NAMES,
  type BrokerOptions,
  checkBrokerOptionsUnused,
  resolveBrokerOptions,
} from "./broker/options.ts";
import { AuthCore } from "./core/auth-core.ts";
import type { CoreOptions } from "./core/options.ts";

export interface OIDCAuthOptions extends CoreOptions, BrokerOptions {}

export class OIDCAuth extends AuthCore {
  constructor(options: OIDCAuthOptions) {
    super(options, {
      optionNames: Object.keys(BROKER_OPTION_NAMES),
      create: (services) => {
        if (options.brokerMode === true) return new Broker(resolveBrokerOptions(options), services);
        checkBrokerOptionsUnused(options, services.options.logger);
        return undefined;
      },
    });
  }
}
