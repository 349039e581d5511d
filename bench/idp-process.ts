/** The dev IdP as a process of its own for the broker benchmark; ends when stdin closes. */
import { startDevIdp } from "../dev-idp/index.ts";

const idp = await startDevIdp();
process.stdout.write(`discovery ${idp.discoveryUrl}\n`);
process.stdin.resume();
process.stdin.on("close", () => {
  idp.stop().then(() => process.exit(0));
});
