/**
 * A loopback TCP proxy in front of a real server, for fault tests: it
 * forwards bytes both ways until told to fail. `cut()` is an outage as a
 * client sees a stopped server (open connections reset, new ones refused:
 * nothing listens on the port); `stall()` is a network that swallows
 * packets (connections stay open, nothing arrives, new ones hang); and
 * `restore()` forwards again on the same port.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export interface TcpProxy {
  /** `127.0.0.1:<port>` of the proxy. */
  readonly host: string;
  readonly port: number;
  /** The target URL with its host and port replaced by the proxy's. */
  url(targetUrl: string): string;
  cut(): Promise<void>;
  stall(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

type State = "forwarding" | "stalled" | "cut";

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const held = new Set<Socket>();
  let state: State = "forwarding";

  const forward = (client: Socket) => {
    const upstream = tcpConnect(targetPort, targetHost);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.on("data", (chunk) => {
      if (state === "forwarding") upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (state === "forwarding") client.write(chunk);
    });
  };

  const onConnection = (client: Socket) => {
    if (state === "stalled") {
      // Accepted but never answered, like a peer behind a dropped route.
      held.add(client);
      client.on("error", () => client.destroy()).on("close", () => held.delete(client));
      return;
    }
    forward(client);
  };

  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  const dropAll = () => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
    for (const client of held) client.destroy();
    held.clear();
  };

  await listen(0);
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no port");
  const port = address.port;

  return {
    host: `127.0.0.1:${port}`,
    port,
    url(targetUrl) {
      const url = new URL(targetUrl);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return url.href;
    },
    async cut() {
      state = "cut";
      await Promise.all([stopListening(), Promise.resolve(dropAll())]);
    },
    stall() {
      state = "stalled";
    },
    async restore() {
      if (state === "cut") {
        server = createServer(onConnection);
        await listen(port);
      }
      if (state === "stalled") {
        // What was swallowed is gone: those connections are as good as dead.
        dropAll();
      }
      state = "forwarding";
    },
    async close() {
      state = "cut";
      dropAll();
      await stopListening();
    },
  };
}
