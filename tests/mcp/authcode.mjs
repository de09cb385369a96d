#!/usr/bin/env node
// Runs a REAL authorization_code + PKCE flow against Ory Hydra for a registered
// client, with the MCP SDK building the authorization URL and redeeming the code,
// and the user's login/consent accepted through Hydra's admin API (no UI involved).
//
//   node authcode.mjs --issuer URL --admin URL --client-id ID --redirect-uri URI
//                     [--client-secret S [--auth-method client_secret_post|client_secret_basic]]
//                     [--scope "openid offline_access"] [--subject user]
//
// Prints the token endpoint's JSON response on stdout; on failure prints
// {"error", "error_description"} and exits 1 (2 on bad usage).
// Hydra needs URLS_LOGIN/URLS_CONSENT set to anything: we only read Location headers.

import { randomBytes } from 'node:crypto';
import { discoverAuthorizationServerMetadata, startAuthorization, exchangeAuthorization } from '@modelcontextprotocol/sdk/client/auth.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const need = name => opt(name) ?? (console.error(`missing ${name}\nusage: node authcode.mjs --issuer URL --admin URL --client-id ID --redirect-uri URI [--client-secret S] [--auth-method M] [--scope S] [--subject SUB]`), process.exit(2));
const issuer = need('--issuer'), admin = need('--admin').replace(/\/$/, '');
const clientId = need('--client-id'), redirectUri = need('--redirect-uri');
const clientSecret = opt('--client-secret'), authMethod = opt('--auth-method'), scope = opt('--scope', 'openid offline_access'), subject = opt('--subject', 'user');

const fail = (error, error_description) => {
  console.log(JSON.stringify({ error, error_description }));
  process.exit(1);
};

// Minimal cookie jar: Hydra's login/consent CSRF cookies must come back with each hop.
const jar = new Map();
async function get(url) {
  const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';'); const i = pair.indexOf('=');
    jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  const loc = res.headers.get('location');
  if (!loc) fail('no_redirect', `GET ${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return new URL(loc, url);
}

// Admin API call; returns parsed JSON or fails.
async function adminCall(method, path, body) {
  const res = await fetch(admin + path, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) fail(json.error ?? `admin_http_${res.status}`, json.error_description ?? `${method} ${path}`);
  return json;
}

// Keep the raw token response (the SDK's parsed result drops unknown fields).
let rawToken;
const recordingFetch = async (url, init) => {
  const res = await fetch(url, init);
  rawToken = await res.clone().json().catch(() => undefined);
  return res;
};

try {
  const metadata = await discoverAuthorizationServerMetadata(issuer);
  if (!metadata) fail('discovery_failed', `no authorization server metadata at ${issuer}`);
  // As in a real client, the registered token_endpoint_auth_method picks how the SDK
  // authenticates at the token endpoint (without it, a secret means client_secret_basic).
  const clientInformation = { client_id: clientId, ...(clientSecret ? { client_secret: clientSecret } : {}),
    ...(authMethod ? { token_endpoint_auth_method: authMethod } : {}) };
  const state = randomBytes(16).toString('hex'); // Hydra insists on a state of >= 8 chars
  const { authorizationUrl, codeVerifier } = await startAuthorization(issuer, { metadata, clientInformation, redirectUrl: redirectUri, scope, state });

  // Walk the redirect chain: login challenge -> consent challenge -> redirect_uri?code=
  let next = await get(authorizationUrl);
  let code;
  for (let hop = 0; hop < 10 && !code; hop++) {
    const q = next.searchParams;
    if (q.get('error')) fail(q.get('error'), q.get('error_description') ?? next.href);
    if (q.get('login_challenge')) {
      const ch = encodeURIComponent(q.get('login_challenge'));
      const { redirect_to } = await adminCall('PUT', `/admin/oauth2/auth/requests/login/accept?login_challenge=${ch}`, { subject });
      next = await get(redirect_to);
    } else if (q.get('consent_challenge')) {
      const ch = encodeURIComponent(q.get('consent_challenge'));
      const req = await adminCall('GET', `/admin/oauth2/auth/requests/consent?consent_challenge=${ch}`);
      const { redirect_to } = await adminCall('PUT', `/admin/oauth2/auth/requests/consent/accept?consent_challenge=${ch}`, {
        grant_scope: req.requested_scope ?? [], grant_access_token_audience: req.requested_access_token_audience ?? [],
      });
      next = await get(redirect_to);
    } else if (next.href.startsWith(redirectUri)) {
      if (q.get('state') !== state) fail('state_mismatch', next.href);
      code = q.get('code') ?? fail('no_code', next.href);
    } else {
      next = await get(next); // some other hop on the issuer: follow it
    }
  }
  if (!code) fail('too_many_redirects', next.href);

  await exchangeAuthorization(issuer, { metadata, clientInformation, authorizationCode: code, codeVerifier, redirectUri, fetchFn: recordingFetch });
  console.log(JSON.stringify(rawToken));
} catch (e) {
  fail(e.errorCode ?? e.name ?? 'error', e.message + (e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''));
}
