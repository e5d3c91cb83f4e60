// The console's only door to the service: the public JSON API on this same origin.
// The access token lives in this module's memory only (never in localStorage or
// sessionStorage); the refresh token is an HttpOnly cookie scoped to /api/auth that the
// service sets when a sign-in asks for it ("cookie": true), so a reload signs in again with
// one POST /api/auth/refresh. A 401 on any call refreshes once through that cookie and retries.

/** An error answer of the API: its status, its "error" words and its "detail". */
export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail ?? null;
  }
}

let accessToken = null;
let currentUser = null;
let refreshing = null;
const listeners = new Set();

function announce() {
  for (const fn of listeners) {
    try { fn(currentUser); } catch (e) { setTimeout(() => { throw e; }); }
  }
}

function adopt(answer) {
  accessToken = answer && answer.accessToken ? answer.accessToken : null;
  currentUser = accessToken ? answer.user || currentUser : null;
  announce();
  return currentUser;
}

async function errorOf(resp) {
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  const message = body && typeof body.error === 'string' ? body.error
    : resp.status === 0 ? 'The service cannot be reached' : `The service answered ${resp.status}`;
  return new ApiError(resp.status, message, body ? body.detail : null);
}

async function send(method, path, body, { auth = true, query } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && accessToken) headers.Authorization = `Bearer ${accessToken}`;
  let resp;
  try {
    resp = await fetch(url, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'The service cannot be reached: check your connection and try again');
  }
  return resp;
}

async function request(method, path, body, opts = {}) {
  let resp = await send(method, path, body, opts);
  if (resp.status === 401 && opts.auth !== false && !opts.retried) {
    if (await refresh()) resp = await send(method, path, body, opts);
  }
  if (resp.status === 401 && opts.auth !== false) {
    const err = await errorOf(resp);
    if (currentUser) adopt(null);
    throw err;
  }
  if (!resp.ok) throw await errorOf(resp);
  if (resp.status === 204 || resp.status === 205) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

/** Trades the refresh cookie for a new access token; true when signed in after it. */
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const resp = await send('POST', '/api/auth/refresh', { cookie: true }, { auth: false });
        if (!resp.ok) { adopt(null); return false; }
        const answer = await resp.json();
        adopt(answer);
        if (!answer.user || answer.user.role === undefined) await loadProfile();
        return true;
      } catch {
        adopt(null);
        return false;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

async function loadProfile() {
  try {
    currentUser = await request('GET', '/api/auth/profile');
    announce();
  } catch { /* the refresh answer's user stays */ }
  return currentUser;
}

export const api = {
  get: (path, query) => request('GET', path, undefined, { query }),
  post: (path, body) => request('POST', path, body),
  patch: (path, body) => request('PATCH', path, body),
  put: (path, body) => request('PUT', path, body),
  del: (path) => request('DELETE', path),
  /** Saves an API answer as a file, with the access token (a plain link could not send it). */
  async download(path, filename) {
    const run = () => send('GET', path, undefined, {});
    let resp = await run();
    if (resp.status === 401 && (await refresh())) resp = await run();
    if (!resp.ok) throw await errorOf(resp);
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  },
};

/** Who is signed in, and the ways in and out. */
export const auth = {
  get user() { return currentUser; },
  get signedIn() { return !!accessToken; },
  /** Subscribes to sign-in changes; returns the unsubscribe function. */
  onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); },
  /** At start: signs in again from the refresh cookie, if there is one. */
  restore: () => refresh(),
  async signIn(email, password) {
    const answer = await request('POST', '/api/auth/login', { email, password, cookie: true }, { auth: false });
    adopt(answer);
    await loadProfile();
    return currentUser;
  },
  async register(email, password, name) {
    const body = { email, password, cookie: true };
    if (name) body.name = name;
    const answer = await request('POST', '/api/auth/register', body, { auth: false });
    adopt(answer);
    await loadProfile();
    return currentUser;
  },
  async signOut() {
    try { await send('POST', '/api/auth/logout', {}, {}); } catch { /* signed out here anyway */ }
    adopt(null);
  },
  reloadProfile: () => loadProfile(),
  /** Sets the user after a profile change the page made itself. */
  setUser(user) { currentUser = user; announce(); },
};
