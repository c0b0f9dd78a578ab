// The HTTP API client: credentials (sessionStorage only), authenticated requests, media bytes,
// and the /api/events URL (the only place a credential goes into a URL, as the API defines).

const CREDENTIAL_KEY = 'inboxd.credential';
const WORKSPACE_KEY = 'inboxd.workspace';

let current = null; // {credential, workspace}
let unauthorized = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// API keys are ibx_<workspace>_<secret> (or the older ibx.<...>); anything else is a user JWT.
export function isApiKey(credential) {
  return credential.startsWith('ibx');
}

// A header value must be visible ASCII; returns an error text or ''.
export function credentialProblem(credential, workspace) {
  if (!credential) return 'Enter an API key or a user token.';
  if (!/^[\x21-\x7e]{1,4096}$/.test(credential)) return 'The credential has characters that cannot be sent.';
  if (workspace && !/^[\x21-\x7e]{1,128}$/.test(workspace)) return 'The workspace has characters that cannot be sent.';
  return '';
}

export function storedCredentials() {
  const credential = sessionStorage.getItem(CREDENTIAL_KEY);
  if (!credential) return null;
  return { credential, workspace: sessionStorage.getItem(WORKSPACE_KEY) || '' };
}

export function useCredentials(creds) {
  current = creds;
  sessionStorage.setItem(CREDENTIAL_KEY, creds.credential);
  if (creds.workspace) sessionStorage.setItem(WORKSPACE_KEY, creds.workspace);
  else sessionStorage.removeItem(WORKSPACE_KEY);
}

export function forgetCredentials() {
  current = null;
  sessionStorage.removeItem(CREDENTIAL_KEY);
  sessionStorage.removeItem(WORKSPACE_KEY);
}

// Called with the ApiError when a request made with the stored credentials answers 401.
export function onUnauthorized(fn) {
  unauthorized = fn;
}

export function signedInWithKey() {
  return current !== null && isApiKey(current.credential);
}

// The user id (`sub`) of a user token, decoded from its payload; null for API keys.
export function currentUserId() {
  if (!current || isApiKey(current.credential)) return null;
  const part = current.credential.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64 + '==='.slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0));
    const payload = JSON.parse(new TextDecoder().decode(bytes));
    return typeof payload.sub === 'string' && payload.sub ? payload.sub : null;
  } catch {
    return null;
  }
}

function authHeaders(creds) {
  if (isApiKey(creds.credential)) return { 'X-API-Key': creds.credential };
  const headers = { Authorization: 'Bearer ' + creds.credential };
  if (creds.workspace) headers['X-Workspace-Id'] = creds.workspace;
  return headers;
}

async function errorOf(res) {
  let code = 'http_' + res.status;
  let message = 'The server answered ' + res.status + (res.statusText ? ' ' + res.statusText : '');
  try {
    const body = await res.json();
    if (body && body.error && typeof body.error.message === 'string') {
      message = body.error.message;
      code = String(body.error.code || code);
    }
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(res.status, code, message);
}

async function send(method, path, body, creds, accept) {
  const headers = { ...authHeaders(creds), Accept: accept };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server.');
  }
}

// JSON request. `creds` defaults to the signed-in ones (then a 401 signs out).
export async function request(method, path, body, creds) {
  const using = creds || current;
  if (!using) throw new ApiError(401, 'unauthorized', 'Not signed in.');
  const res = await send(method, path, body, using, 'application/json');
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !creds && current === using) unauthorized(err);
    throw err;
  }
  if (res.status === 204) return null;
  return res.json();
}

// GET /api/messages/{id}/media → {state: 'stored', blob} | {state: 'pending'|'expired'|'failed'}.
export async function fetchMedia(messageId) {
  const using = current;
  if (!using) throw new ApiError(401, 'unauthorized', 'Not signed in.');
  const res = await send('GET', '/api/messages/' + encodeURIComponent(messageId) + '/media', undefined,
    using, '*/*');
  if (res.status === 200) return { state: 'stored', blob: await res.blob() };
  if (res.status === 202) return { state: 'pending' };
  if (res.status === 410) return { state: 'expired' };
  if (res.status === 422) return { state: 'failed' };
  const err = await errorOf(res);
  if (res.status === 401 && current === using) unauthorized(err);
  throw err;
}

// EventSource cannot send headers: the credential goes in ?access_token= (and the workspace
// in ?workspace= for a user token); lastEventId resumes after a stream that was closed.
export function eventsUrl(lastEventId) {
  const params = new URLSearchParams({ access_token: current.credential });
  if (!isApiKey(current.credential) && current.workspace) params.set('workspace', current.workspace);
  if (lastEventId) params.set('lastEventId', lastEventId);
  return '/api/events?' + params.toString();
}

// crypto.randomUUID needs a secure context; fall back to getRandomValues (plain http on a LAN).
export function newClientMessageId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
