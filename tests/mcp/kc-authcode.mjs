#!/usr/bin/env node
// Runs a REAL authorization_code + PKCE flow against Keycloak for a registered client, with
// the MCP SDK building the authorization URL and redeeming the code, and Keycloak's own
// login and consent pages driven over HTTP the way a browser submits them (no headless
// browser, no admin API).
//
//   node kc-authcode.mjs --issuer URL --client-id ID --redirect-uri URI
//                        [--client-secret S [--auth-method client_secret_post|client_secret_basic]]
//                        [--scope "openid"] --username U --password P [--refresh]
//
// --issuer is the realm's URL, {base}/realms/{realm}. Prints the token endpoint's JSON
// response on stdout; with --refresh, also redeems the refresh token once and prints
// {"token": <code exchange response>, "refreshed": <refresh response>}. On failure prints
// {"error", "error_description"} and exits 1 (2 on bad usage).
// The user must have no pending required actions (set a non-temporary password, first and
// last name, email, emailVerified). The redirect URI is never contacted: the code is read
// from the Location header that points at it.

import { randomBytes } from 'node:crypto';
import {
  discoverAuthorizationServerMetadata, startAuthorization, exchangeAuthorization, refreshAuthorization,
} from '@modelcontextprotocol/sdk/client/auth.js';

const USAGE = 'usage: node kc-authcode.mjs --issuer URL --client-id ID --redirect-uri URI [--client-secret S] [--auth-method M] [--scope S] --username U --password P [--refresh]';
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const need = name => opt(name) ?? (console.error(`missing ${name}\n${USAGE}`), process.exit(2));
const issuer = need('--issuer'), clientId = need('--client-id'), redirectUri = need('--redirect-uri');
const username = need('--username'), password = need('--password');
const clientSecret = opt('--client-secret'), authMethod = opt('--auth-method'), scope = opt('--scope', 'openid');
const refresh = args.includes('--refresh');

const fail = (error, error_description) => {
  console.log(JSON.stringify({ error, error_description }));
  process.exit(1);
};

// Minimal cookie jar. Keycloak marks its cookies Secure; a browser still sends them to
// http://127.0.0.1 (loopback counts as secure), so we send every cookie we hold.
const jar = new Map();
function keepCookies(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(';'); const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim(), value = pair.slice(i + 1).trim();
    const expired = attrs.some(a => /^\s*max-age\s*=\s*0\s*$/i.test(a)) ||
      attrs.some(a => /^\s*expires\s*=/i.test(a) && Date.parse(a.split('=').slice(1).join('=')) < Date.now());
    if (expired || value === '') jar.delete(name); else jar.set(name, value);
  }
}
async function request(url, { method = 'GET', form } = {}) {
  const headers = {};
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(url, { method, redirect: 'manual', headers, body: form && new URLSearchParams(form) });
  keepCookies(res);
  return res;
}

// The one HTML form on a Keycloak login page: its action (resolved against the page URL)
// and its named inputs' values (hidden fields included, as a browser sends them).
const unescape = s => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'")
  .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
  .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)));
const attr = (tag, name) => { const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i')); return m ? unescape(m[2] ?? m[3]) : undefined; };
function parseForm(html, pageUrl) {
  const m = html.match(/<form\b[^>]*>[\s\S]*?<\/form>/i);
  if (!m) return undefined;
  const action = attr(m[0].match(/<form\b[^>]*>/i)[0], 'action');
  const fields = {};
  for (const [tag] of m[0].matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(tag, 'name');
    if (name && !/type\s*=\s*["']?(submit|button)/i.test(tag)) fields[name] = attr(tag, 'value') ?? '';
  }
  const buttons = [...m[0].matchAll(/<(?:button|input)\b[^>]*type\s*=\s*["']?submit[^>]*>/gi)]
    .map(([tag]) => ({ name: attr(tag, 'name'), value: attr(tag, 'value') ?? '' }));
  return { action: action && new URL(action, pageUrl), fields, buttons };
}
// Keycloak's message on an error or info page, for the error description.
const pageMessage = html => unescape((html.match(/<(?:span|div|p)[^>]*(?:kc-feedback-text|instruction|alert)[^>]*>([\s\S]*?)<\/(?:span|div|p)>/i)?.[1]
  ?? html.match(/<title>([\s\S]*?)<\/title>/i)?.[1] ?? '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());

// Keep the raw token responses (the SDK's parsed result drops unknown fields).
let rawToken;
const recordingFetch = async (url, init) => {
  const res = await fetch(url, init);
  rawToken = await res.clone().json().catch(() => undefined);
  return res;
};

try {
  const metadata = await discoverAuthorizationServerMetadata(issuer);
  if (!metadata) fail('discovery_failed', `no authorization server metadata at ${issuer}`);
  const clientInformation = { client_id: clientId, ...(clientSecret ? { client_secret: clientSecret } : {}),
    ...(authMethod ? { token_endpoint_auth_method: authMethod } : {}) };
  const state = randomBytes(16).toString('hex');
  const { authorizationUrl, codeVerifier } = await startAuthorization(issuer, { metadata, clientInformation, redirectUrl: redirectUri, scope, state });

  // Walk pages and redirects: login form -> (required-action redirect) -> consent form ->
  // Location: redirect_uri?code=...
  let url = new URL(authorizationUrl), res = await request(url), code;
  let loggedIn = false, consented = false;
  for (let hop = 0; hop < 15 && !code; hop++) {
    if (res.status >= 300 && res.status < 400) {
      const loc = new URL(res.headers.get('location') ?? fail('no_location', `${res.status} from ${url}`), url);
      if (loc.href.startsWith(redirectUri)) {
        const q = loc.searchParams;
        if (q.get('error')) fail(q.get('error'), q.get('error_description') ?? loc.href);
        if (q.get('state') !== state) fail('state_mismatch', loc.href);
        code = q.get('code') ?? fail('no_code', loc.href);
        break;
      }
      url = loc; res = await request(url);
      continue;
    }
    const html = await res.text();
    const form = res.status === 200 ? parseForm(html, url) : undefined;
    if (!form?.action) fail(`http_${res.status}`, `${url.pathname}: ${pageMessage(html) || html.slice(0, 300)}`);
    if ('password' in form.fields && !loggedIn) {
      loggedIn = true;
      url = form.action;
      res = await request(url, { method: 'POST', form: { ...form.fields, username, password } });
    } else if (form.buttons.some(b => b.name === 'accept') && !consented) {
      consented = true;
      const accept = form.buttons.find(b => b.name === 'accept');
      url = form.action;
      res = await request(url, { method: 'POST', form: { ...form.fields, accept: accept.value || 'Yes' } });
    } else {
      // Wrong password, a required action, an error page: report Keycloak's message.
      fail('unexpected_page', `${url.pathname}: ${pageMessage(html) || 'form without login or consent'}`);
    }
  }
  if (!code) fail('too_many_redirects', url.href);

  const tokens = await exchangeAuthorization(issuer, { metadata, clientInformation, authorizationCode: code, codeVerifier, redirectUri, fetchFn: recordingFetch });
  if (!refresh) {
    console.log(JSON.stringify(rawToken));
  } else {
    const token = rawToken;
    if (!tokens.refresh_token) fail('no_refresh_token', 'the code exchange returned no refresh_token');
    await refreshAuthorization(issuer, { metadata, clientInformation, refreshToken: tokens.refresh_token, fetchFn: recordingFetch });
    console.log(JSON.stringify({ token, refreshed: rawToken }));
  }
} catch (e) {
  fail(e.errorCode ?? e.name ?? 'error', e.message + (e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''));
}
