/**
 * The user's names as `/userinfo` reports them and as the broker names its
 * users, read from token or IdP userinfo claims with py-oidc-auth's table of
 * claim names, so that its clients get the same answers (README "Endpoints").
 */

/** The `/userinfo` body: py-oidc-auth's `UserInfo`. Missing values are `""`. */
export interface UserinfoFields {
  username: string;
  first_name: string;
  last_name: string;
  email: string;
  /** The same as `username` (the Unix account name py-oidc-auth clients read). */
  pw_name: string;
}

/**
 * Claim names tried in order, first non-empty one wins. For each name the
 * hyphenated form comes before the underscored one, as in py-oidc-auth
 * (utils.py `get_userinfo`), whose table lists the hyphenated names.
 */
const USERNAME = [
  "preferred-username",
  "preferred_username",
  "user-name",
  "user_name",
  "uid",
  "username",
];
const EMAIL = ["mail", "email"];
const FIRST_NAME = ["first-name", "first_name", "given-name", "given_name"];
const LAST_NAME = ["last-name", "last_name", "family-name", "family_name", "surname"];

/**
 * The `/userinfo` fields of a set of claims. A first or last name that is
 * missing comes from the full `name`, split at its last space (py-oidc-auth
 * reads `name` as a last name and keeps its last word only). Given and
 * family names are kept whole, where py-oidc-auth keeps only the first word
 * of the one and the last word of the other: a name is not ours to shorten.
 */
export function userinfoFields(claims: Record<string, unknown>): UserinfoFields {
  const lookup = caseInsensitive(claims);
  const username = firstOf(lookup, USERNAME) ?? "";
  const [nameFirst, nameLast] = splitFullName(firstOf(lookup, ["name"]));
  return {
    username,
    first_name: firstOf(lookup, FIRST_NAME) ?? nameFirst,
    last_name: firstOf(lookup, LAST_NAME) ?? nameLast,
    email: firstOf(lookup, EMAIL) ?? "",
    pw_name: username,
  };
}

/**
 * Whether the claims answer every `/userinfo` field by themselves; when not,
 * the IdP's userinfo endpoint is worth asking. (py-oidc-auth asks it only
 * when no username can be read, utils.py `query_user`.)
 */
export function hasProfile(claims: Record<string, unknown>): boolean {
  const fields = userinfoFields(claims);
  return [fields.username, fields.first_name, fields.last_name, fields.email].every(
    (value) => value !== "",
  );
}

/**
 * The name the broker gives a user (py-oidc-auth utils.py `get_username`):
 * the first username claim (the table above) in the IdP's userinfo answer,
 * else in the IdP token's claims, else the token's `sub`. Undefined when
 * there is not even a `sub`. At login py-oidc-auth asks the IdP's userinfo
 * endpoint every time; for a token exchange only when `usernameClaim(token)`
 * finds nothing, which gives the same name as passing that answer here.
 */
export function usernameOf(
  token: Record<string, unknown>,
  userinfo: Record<string, unknown> = {},
): string | undefined {
  return (
    usernameClaim(userinfo) ??
    usernameClaim(token) ??
    (typeof token.sub === "string" && token.sub !== "" ? token.sub : undefined)
  );
}

/** The first username claim of the table, or undefined. */
export function usernameClaim(claims: Record<string, unknown>): string | undefined {
  return firstOf(caseInsensitive(claims), USERNAME);
}

type Lookup = (name: string) => unknown;

/**
 * Claim names read regardless of case, as py-oidc-auth lower-cases them
 * first; a name in exactly the case asked for wins over another spelling.
 */
function caseInsensitive(claims: Record<string, unknown>): Lookup {
  const lower = new Map<string, unknown>();
  for (const [name, value] of Object.entries(claims)) {
    const key = name.toLowerCase();
    if (key === name || !lower.has(key)) lower.set(key, value);
  }
  return (name) => (Object.hasOwn(claims, name) ? claims[name] : lower.get(name));
}

function firstOf(lookup: Lookup, names: readonly string[]): string | undefined {
  for (const name of names) {
    const text = asText(lookup(name));
    if (text !== undefined) return text;
  }
  return undefined;
}

/** A string, or a number (an LDAP `uid` may be one); empty and other values count as absent. */
function asText(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim() === "" ? undefined : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

function splitFullName(name: string | undefined): [string, string] {
  if (name === undefined) return ["", ""];
  const trimmed = name.trim();
  const space = trimmed.lastIndexOf(" ");
  return space < 0 ? ["", trimmed] : [trimmed.slice(0, space).trim(), trimmed.slice(space + 1)];
}
