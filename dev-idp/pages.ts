/**
 * Plain HTML pages of the dev IdP. Every form carries all of its fields as inputs *inside* the
 * form (no JavaScript, no `form=` attributes needed), so a test's HTTP client can complete each
 * step by posting the form's inputs. The `id`/`data-*` markers are what `IdpUserAgent` looks for.
 */

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

export function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)}</title>
  <style>
    body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}
    input{display:block;width:100%;margin:.25rem 0 .75rem;padding:.4rem;box-sizing:border-box}
    button{padding:.4rem 1rem;margin-right:.5rem}.error{color:#b00020}code{font-size:1.5rem}
  </style>
</head>
<body>
  <h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}

export interface LoginPageOptions {
  uid: string;
  clientId: string;
  username?: string;
  error?: string;
}

export function loginPage({ uid, clientId, username, error }: LoginPageOptions): string {
  const alert = error
    ? `<p class="error" id="login-error" role="alert">${escapeHtml(error)}</p>`
    : "";
  return layout(
    "Sign in",
    `  <p>to continue to <strong>${escapeHtml(clientId)}</strong> (ts-oidc-auth dev IdP)</p>
  ${alert}
  <form id="login-form" method="post" action="/interaction/${encodeURIComponent(uid)}">
    <label>Username <input type="text" name="username" value="${escapeHtml(username ?? "")}" autocomplete="username" autofocus></label>
    <label>Password <input type="password" name="password" autocomplete="current-password"></label>
    <button type="submit">Sign in</button>
    <button type="submit" name="abort" value="1" formnovalidate>Cancel</button>
  </form>`,
  );
}

export function errorPage(fields: Readonly<Record<string, unknown>>): string {
  const rows = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(
      ([key, value]) =>
        `  <p><strong>${escapeHtml(key)}</strong>: <span id="${escapeHtml(key)}">${escapeHtml(String(value))}</span></p>`,
    )
    .join("\n");
  return layout("Error", rows);
}

/** oidc-provider's device input `form` closes without a submit button; we add one inside. */
function withButtons(form: string, buttons: string): string {
  return form.replace(/<\/form>\s*$/, `${buttons}</form>`);
}

export function deviceInputPage(form: string, errorName: string | undefined): string {
  const message = errorName
    ? `<p class="error" id="device-error" data-error="${escapeHtml(errorName)}">${escapeHtml(deviceErrorText(errorName))}</p>`
    : "<p>Enter the code displayed on your device.</p>";
  return layout(
    "Device sign-in",
    `  ${message}\n  ${withButtons(form, '<button type="submit">Continue</button>')}`,
  );
}

function deviceErrorText(errorName: string): string {
  switch (errorName) {
    case "AbortedError":
      return "The sign-in request was cancelled.";
    case "NoCodeError":
    case "NotFoundError":
      return "The code you entered is incorrect. Try again.";
    case "ExpiredError":
      return "The code has expired.";
    case "AlreadyUsedError":
      return "The code has already been used.";
    default:
      return "There was an error processing your request.";
  }
}

export function deviceConfirmPage(form: string, clientName: string, userCode: string): string {
  // The hidden `confirm=yes` input sits inside oidc-provider's form; "Abort" sends abort=yes too.
  const buttons =
    '<button type="submit">Continue</button><button type="submit" name="abort" value="yes">Abort</button>';
  return layout(
    "Confirm device",
    `  <p><strong>${escapeHtml(clientName)}</strong> wants to sign in. Check that your device shows this code:</p>
  <p><code id="user-code">${escapeHtml(userCode)}</code></p>
  ${withButtons(form, buttons)}`,
  );
}

export function deviceSuccessPage(clientName: string): string {
  return layout(
    "Device sign-in",
    `  <p id="device-success">Signed in to ${escapeHtml(clientName)}. You can close this page.</p>`,
  );
}

export function logoutPage(form: string, host: string): string {
  // Auto-confirming needs JavaScript; instead the confirmation travels as a hidden input.
  const buttons =
    '<input type="hidden" name="logout" value="yes"/><button type="submit">Sign out</button>';
  return layout(
    "Sign out",
    `  <p>Sign out of ${escapeHtml(host)}?</p>\n  ${withButtons(form, buttons)}`,
  );
}

export function logoutSuccessPage(): string {
  return layout("Signed out", '  <p id="logout-success">You have been signed out.</p>');
}
