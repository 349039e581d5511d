/**
 * The dev IdP's own interaction routes (GET/POST /interaction/:uid): a username/password form
 * for the login prompt, and automatic consent, so every flow completes with plain HTTP.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Provider from "oidc-provider";
import { errorPage, loginPage } from "./pages.ts";
import { findUserByCredentials } from "./users.ts";

type Interaction = Awaited<ReturnType<Provider["interactionDetails"]>>;

const MAX_FORM_BYTES = 64 * 1024;

export async function handleInteraction(
  provider: Provider,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let interaction: Interaction;
  try {
    interaction = await provider.interactionDetails(req, res);
  } catch {
    // Unknown or expired interaction (e.g. a stale bookmark): not a server error.
    sendHtml(
      res,
      400,
      errorPage({
        error: "invalid_request",
        error_description: "interaction session not found or expired",
      }),
    );
    return;
  }
  if (req.method === "POST") {
    await submitInteraction(provider, interaction, req, res);
  } else if (interaction.prompt.name === "consent") {
    await grantConsent(provider, interaction, req, res);
  } else if (interaction.prompt.name === "login") {
    sendHtml(res, 200, loginPage({ uid: interaction.uid, clientId: clientIdOf(interaction) }));
  } else {
    await provider.interactionFinished(
      req,
      res,
      { error: "interaction_required" },
      { mergeWithLastSubmission: false },
    );
  }
}

async function submitInteraction(
  provider: Provider,
  interaction: Interaction,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  if (form.has("abort")) {
    const result = { error: "access_denied", error_description: "End-User aborted interaction" };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }
  if (interaction.prompt.name !== "login") {
    await grantConsent(provider, interaction, req, res);
    return;
  }
  const username = form.get("username") ?? "";
  const user = findUserByCredentials(username, form.get("password") ?? "");
  if (!user) {
    const page = loginPage({
      uid: interaction.uid,
      clientId: clientIdOf(interaction),
      username,
      error: "Invalid username or password.",
    });
    sendHtml(res, 200, page);
    return;
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.sub } },
    { mergeWithLastSubmission: false },
  );
}

/**
 * Grants everything the client asked for, as oidc-provider's example consent handler does:
 * the missing OIDC scopes and claims, and the missing scopes of each resource server.
 */
async function grantConsent(
  provider: Provider,
  interaction: Interaction,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const accountId = interaction.session?.accountId;
  const clientId = clientIdOf(interaction);
  const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId, clientId });
  const details = interaction.prompt.details;

  const scopes = stringArray(details.missingOIDCScope);
  if (scopes.length > 0) grant.addOIDCScope(scopes.join(" "));
  const claims = stringArray(details.missingOIDCClaims);
  if (claims.length > 0) grant.addOIDCClaims(claims);
  for (const [resource, resourceScopes] of Object.entries(record(details.missingResourceScopes))) {
    const granted = stringArray(resourceScopes);
    if (granted.length > 0) grant.addResourceScope(resource, granted.join(" "));
  }

  const grantId = await grant.save();
  const consent = interaction.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

function clientIdOf(interaction: Interaction): string {
  const clientId = interaction.params.client_id;
  return typeof clientId === "string" ? clientId : "";
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === "string")
    : [];
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_FORM_BYTES) throw new Error("form body too large");
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
  });
  res.end(html);
}
