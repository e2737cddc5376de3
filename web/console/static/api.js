// The public API, called with the person's token: whatever the console does, a script can
// do with the same calls. The token is kept for this browser tab's session only
// (sessionStorage), never in localStorage.

const SESSION_KEY = "twittnow.session";

// The console is served at <API>/console/, so the API is one level up (with the stage, on
// API Gateway's own domain).
export const apiBase = new URL("../", document.baseURI);

export class ApiError extends Error {
  constructor(status, envelope, retryAfter) {
    super(envelope.error);
    this.status = status;
    this.code = envelope.code;
    this.details = envelope.details || {};
    this.requestId = envelope.request_id || "";
    // Seconds, as the API's Retry-After gives them (429 and 503), else null.
    this.retryAfter = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
  }
}

export function currentSession() {
  const stored = sessionStorage.getItem(SESSION_KEY);
  if (!stored) return null;
  const session = JSON.parse(stored);
  if (Date.parse(session.expiry) <= Date.now()) {
    sessionStorage.removeItem(SESSION_KEY);
    return null;
  }
  return session;
}

let onSessionEnded = () => {};

export function whenSessionEnds(callback) {
  onSessionEnded = callback;
}

export async function call(method, path, { body, query } = {}) {
  const url = new URL(path.replace(/^\//, ""), apiBase);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  const session = currentSession();
  if (session) headers.Authorization = `Token ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, {
      error: "The API did not answer: check the connection, then try again.",
      code: "NETWORK_ERROR",
    }, null);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const envelope = data && typeof data.error === "string"
      ? data
      : { error: `The API answered ${response.status} without an explanation.`, code: "UNKNOWN" };
    const error = new ApiError(response.status, envelope, response.headers.get("Retry-After"));
    if (response.status === 401 && session) {
      sessionStorage.removeItem(SESSION_KEY);
      onSessionEnded(error);
    }
    throw error;
  }
  return data;
}

export async function logIn(username, password) {
  const answer = await call("POST", "/auth/login/", { body: { username, password } });
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({
    token: answer.token,
    expiry: answer.expiry,
    user: answer.user,
  }));
  return answer;
}

export async function logOut() {
  try {
    await call("POST", "/auth/logout/");
  } finally {
    sessionStorage.removeItem(SESSION_KEY);
  }
}

// Every item of a paginated list (at most `limit` pages of 200).
export async function allPages(path, query = {}, limit = 10) {
  const items = [];
  for (let page = 1; page <= limit; page += 1) {
    const answer = await call("GET", path, { query: { ...query, page, page_size: 200 } });
    items.push(...answer.results);
    if (!answer.next) break;
  }
  return items;
}
