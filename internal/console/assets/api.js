// The management API client: every request carries the signed-in token as a bearer token, and
// every refusal becomes an ApiError with the API's status, field, line and message.
import { storedToken } from './session.js';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.field = body?.field || '';
    this.line = body?.line || 0;
    this.errorId = body?.error_id || '';
    this.requestId = body?.request_id || '';
    this.detail = body?.message || '';
  }
}

// request sends one API call; path starts with /api/v1/. A 401 also tells the shell, which
// signs out (the token was revoked or its solution deleted).
export async function request(method, path, body, { signal, token } = {}) {
  const headers = { Authorization: 'Bearer ' + (token ?? storedToken()) };
  const init = { method, headers, signal, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { error: 'the server could not be reached: ' + err.message });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 500) };
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && token === undefined) window.dispatchEvent(new CustomEvent('console:unauthorized', { detail: err }));
    throw err;
  }
  return data;
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body, opts) => request('POST', path, body ?? {}, opts),
  put: (path, body, opts) => request('PUT', path, body ?? {}, opts),
  patch: (path, body, opts) => request('PATCH', path, body ?? {}, opts),
  del: (path, opts) => request('DELETE', path, undefined, opts),
};

// solutionPath is the API path of a solution's resource: solutionPath('demo', 'endpoints').
// Each part is escaped; a part with slashes ("GET", "/users/{id}") keeps them as separators.
export function solutionPath(sol, ...parts) {
  const rest = parts
    .flatMap((p) => String(p).split('/'))
    .filter((s) => s !== '')
    .map(encodeURIComponent);
  return ['/api/v1/solutions', encodeURIComponent(sol), ...rest].join('/');
}

// whoami asks the API what a token is (GET /api/v1/whoami): { admin, solution }, the
// solution being a solution token's own ("" for the admin token). Nothing changes.
export async function whoami(token) {
  const who = await request('GET', '/api/v1/whoami', undefined, { token });
  return { admin: who.admin === true, solution: who.admin ? '' : who.solution || '' };
}
