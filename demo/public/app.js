// The demo page: plain browser JavaScript, no build step. Tokens live in
// sessionStorage (this tab only) and are sent as bearer tokens to the app.
const AUTH = "/api/auth/v2";
const STORAGE_KEY = "ts-oidc-auth-demo.tokens";
const PAGE = `${location.origin}/`;

const $ = (id) => document.getElementById(id);
let expiryTimer;
let deviceRun;

function loadTokens() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
  } catch {
    return null;
  }
}

function saveTokens(tokens) {
  if (tokens) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(tokens));
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** The JWT's payload, for display only: the app verifies tokens, the page just shows them. */
function claimsOf(jwt) {
  const part = jwt.split(".")[1] ?? "";
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

function describe(body, status) {
  return body.error_description ?? body.detail ?? body.error ?? `HTTP ${status}`;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function postForm(path, fields) {
  return fetch(path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
  });
}

function bearer(tokens) {
  return { authorization: `Bearer ${tokens.access_token}` };
}

// --- Authorization code flow -------------------------------------------------

function login() {
  location.assign(`${AUTH}/login?redirect_uri=${encodeURIComponent(PAGE)}`);
}

/** Back from the IdP with ?code&state (or ?error): exchange them at /callback. */
async function finishLogin(params) {
  // The code is single-use: take it out of the address bar before anything else.
  history.replaceState(null, "", "/");
  if (params.has("error")) {
    showError(`The login failed: ${params.get("error_description") ?? params.get("error")}`);
    return;
  }
  const query = new URLSearchParams({ code: params.get("code"), state: params.get("state") });
  const response = await fetch(`${AUTH}/callback?${query}`);
  const body = await readJson(response);
  if (!response.ok) {
    showError(`The login failed: ${describe(body, response.status)}`);
    return;
  }
  saveTokens(body);
}

// --- Signed in -------------------------------------------------------------------

async function render() {
  const tokens = loadTokens();
  $("signed-out").hidden = Boolean(tokens);
  $("signed-in").hidden = !tokens;
  $("claims-card").hidden = !tokens;
  $("device").hidden = Boolean(tokens);
  if (!tokens) {
    $("api").hidden = true;
    clearInterval(expiryTimer);
    return;
  }
  const claims = claimsOf(tokens.access_token);
  $("claims").textContent = JSON.stringify(claims, null, 2);
  $("user-name").textContent = claims.preferred_username ?? claims.sub;
  showExpiry(tokens.expires);
  const response = await fetch(`${AUTH}/userinfo`, { headers: bearer(tokens) });
  const user = await readJson(response);
  $("user-details").textContent = response.ok
    ? `${user.first_name} ${user.last_name} · ${user.email}`
    : `userinfo: ${describe(user, response.status)}`;
}

function showExpiry(expires) {
  clearInterval(expiryTimer);
  const tick = () => {
    const left = Math.max(0, expires - Math.floor(Date.now() / 1000));
    const seconds = String(left % 60).padStart(2, "0");
    $("expires-in").textContent = left > 0 ? `${Math.floor(left / 60)}:${seconds}` : "— expired";
  };
  tick();
  expiryTimer = setInterval(tick, 1000);
}

async function callApi(path) {
  const tokens = loadTokens();
  if (!tokens) return;
  const response = await fetch(path, { headers: bearer(tokens) });
  const body = await readJson(response);
  $("api").hidden = false;
  $("api-status").textContent = `GET ${path} → ${response.status}`;
  $("api-status").classList.toggle("bad", !response.ok);
  $("api-result").textContent = JSON.stringify(body, null, 2);
}

async function refresh() {
  const tokens = loadTokens();
  if (!tokens) return;
  const response = await postForm(`${AUTH}/token`, { refresh_token: tokens.refresh_token });
  const body = await readJson(response);
  if (!response.ok) {
    saveTokens(null);
    showError(`The refresh failed, please log in again: ${describe(body, response.status)}`);
    await render();
    return;
  }
  saveTokens(body);
  const { jti } = claimsOf(body.access_token);
  $("refresh-result").hidden = false;
  $("refresh-result").textContent =
    `Refreshed at ${new Date().toLocaleTimeString()}: new token ${jti}.`;
  await render();
}

/** Ends the broker session (bearer token), then the IdP's session (a page of the IdP). */
async function logout() {
  const tokens = loadTokens();
  saveTokens(null);
  const query = `post_logout_redirect_uri=${encodeURIComponent(PAGE)}`;
  if (tokens) {
    await fetch(`${AUTH}/logout?${query}`, { headers: bearer(tokens), redirect: "manual" });
  }
  location.assign(`${AUTH}/logout?${query}`);
}

// --- Device flow -------------------------------------------------------------------

async function startDevice() {
  showError("");
  const response = await postForm(`${AUTH}/device`, {});
  const start = await readJson(response);
  if (!response.ok) {
    showError(`The device flow could not start: ${describe(start, response.status)}`);
    return;
  }
  const link = document.createElement("a");
  link.href = start.verification_uri_complete ?? start.verification_uri;
  link.textContent = link.href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  $("device-link").replaceChildren(link);
  $("device-code").textContent = start.user_code;
  $("device-panel").hidden = false;
  $("device-start").disabled = true;
  const run = { cancelled: false };
  deviceRun = run;
  await pollDevice(run, start);
  $("device-panel").hidden = true;
  $("device-start").disabled = false;
}

/** Polls /token at the server's interval; five seconds slower after each slow_down (RFC 8628). */
async function pollDevice(run, start) {
  let interval = start.interval ?? 5;
  const deadline = Date.now() + start.expires_in * 1000;
  while (!run.cancelled && Date.now() < deadline) {
    const left = Math.round((deadline - Date.now()) / 1000);
    $("device-status").textContent =
      `Waiting for confirmation… checking every ${interval} s, ${left} s left.`;
    await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    if (run.cancelled) return;
    const response = await postForm(`${AUTH}/token`, { device_code: start.device_code });
    const body = await readJson(response);
    if (response.ok) {
      saveTokens(body);
      await render();
      return;
    }
    if (body.error === "slow_down") interval += 5;
    else if (body.error !== "authorization_pending") {
      showError(`The device login ended: ${describe(body, response.status)}`);
      return;
    }
  }
  if (!run.cancelled) showError("The device code expired. Start again.");
}

function cancelDevice() {
  if (deviceRun) deviceRun.cancelled = true;
  $("device-panel").hidden = true;
  $("device-start").disabled = false;
}

// --- Wiring ------------------------------------------------------------------------

function guarded(action) {
  return () => action().catch((error) => showError(`Something went wrong: ${error.message}`));
}

async function start() {
  $("login").addEventListener("click", login);
  $("call-api").addEventListener(
    "click",
    guarded(() => callApi("/api/hello")),
  );
  $("call-admin").addEventListener(
    "click",
    guarded(() => callApi("/api/admin")),
  );
  $("refresh").addEventListener("click", guarded(refresh));
  $("logout").addEventListener("click", guarded(logout));
  $("device-start").addEventListener("click", guarded(startDevice));
  $("device-cancel").addEventListener("click", cancelDevice);
  const params = new URLSearchParams(location.search);
  if (params.has("code") || params.has("error")) await finishLogin(params);
  await render();
  document.body.dataset.ready = "true";
}

start().catch((error) => showError(`Something went wrong: ${error.message}`));
