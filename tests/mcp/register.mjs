#!/usr/bin/env node
// Makes REAL OAuth Dynamic Client Registrations (RFC 7591) the way MCP
// clients do, through the official MCP TypeScript SDK.
//
//   node register.mjs --issuer URL [--spec FILE.json] [--strict]   (spec on stdin if no --spec or --spec -)
//
// Spec: JSON array of {"client": NAME, "count": N, "metadata": {...}}.
//   NAME is a key of CLIENTS below, or "custom" (then metadata is sent whole).
//   For named clients, metadata is merged over the template; a key set to null
//   removes that field from the request.
// Output: one JSON line per registration on stdout:
//   {"client","client_id","client_secret"|null,"client_name","redirect_uris","token_endpoint_auth_method",
//    "registration_access_token"|null,"registration_client_uri"|null}
//    (+ "response_fixups": [...] if fields had to be dropped for the SDK to accept the answer)
//   or {"client","error","error_description","status","client_id"?,"request"} on failure
//   ("client_id" present = the server created the client but the SDK refused its answer).
// Exit code: 0 if all succeeded, 1 if any registration failed, 2 on bad usage.

import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { discoverAuthorizationServerMetadata, registerClient } from '@modelcontextprotocol/sdk/client/auth.js';
import { OAuthClientInformationFullSchema } from '@modelcontextprotocol/sdk/shared/auth.js';

const CODE_FLOW = { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
const port = (lo = 10000, hi = 65535) => randomInt(lo, hi + 1);
// Claude Code names the client after the server as the user named it at install time.
const serverName = () => ['github', 'linear', 'notion', 'sentry', 'docs', 'acme-internal', 'jira', 'my-server'][randomInt(8)] +
  (randomInt(2) ? `-${randomInt(1000)}` : '');

// What real MCP clients send. Functions, so random parts are fresh per registration.
const CLIENTS = {
  'claude-code': () => ({ client_name: `Claude Code (${serverName()})`, redirect_uris: [`http://localhost:${port()}/callback`],
    ...CODE_FLOW, token_endpoint_auth_method: 'none' }),
  'claude-hosted': () => ({ client_name: 'claudeai', redirect_uris: ['https://claude.ai/api/mcp/auth_callback'],
    ...CODE_FLOW, token_endpoint_auth_method: 'client_secret_post' }),
  vscode: () => ({ client_name: 'Visual Studio Code',
    redirect_uris: ['https://insiders.vscode.dev/redirect', 'https://vscode.dev/redirect', 'http://127.0.0.1/', 'http://127.0.0.1:33418/'],
    ...CODE_FLOW, token_endpoint_auth_method: 'none', client_uri: 'https://code.visualstudio.com', application_type: 'native' }),
  cursor: () => ({ client_name: 'Cursor', redirect_uris: ['cursor://anysphere.cursor-mcp/oauth/callback'],
    ...CODE_FLOW, token_endpoint_auth_method: 'none' }),
  inspector: () => ({ client_name: 'MCP Inspector',
    redirect_uris: ['http://localhost:6274/oauth/callback', 'http://localhost:6274/oauth/callback/debug'],
    ...CODE_FLOW, token_endpoint_auth_method: 'none', client_uri: 'https://github.com/modelcontextprotocol/inspector' }),
  'mcp-remote': () => ({ client_name: 'MCP CLI Proxy', redirect_uris: [`http://localhost:${port(3335, 49151)}/oauth/callback`],
    ...CODE_FLOW, token_endpoint_auth_method: 'none', client_uri: 'https://github.com/modelcontextprotocol/mcp-cli',
    software_id: '2e6dc280-f3c3-4e01-99a7-8181dbd1d23d', software_version: '0.1.29' }),
  cline: () => ({ client_name: 'Cline', redirect_uris: ['http://127.0.0.1:1456/mcp/oauth/callback'],
    ...CODE_FLOW, token_endpoint_auth_method: 'none', software_id: 'cline' }),
  'gemini-cli': () => ({ client_name: 'Gemini CLI MCP Client', redirect_uris: ['http://localhost:7777/oauth/callback'],
    ...CODE_FLOW, token_endpoint_auth_method: 'none', scope: '' }),
  goose: () => ({ client_name: 'goose', redirect_uris: [`http://127.0.0.1:${port()}/oauth_callback`],
    ...CODE_FLOW, token_endpoint_auth_method: 'none' }),
  // ChatGPT: no auth method sent, so the server's default applies.
  chatgpt: () => ({ client_name: 'ChatGPT', redirect_uris: ['https://chatgpt.com/connector_platform_oauth_redirect'], ...CODE_FLOW }),
  librechat: () => ({ client_name: 'LibreChat MCP Client',
    redirect_uris: [`https://chat.example.org/api/mcp/${serverName()}/oauth/callback`],
    ...CODE_FLOW, token_endpoint_auth_method: 'client_secret_basic' }),
  custom: () => ({}),
};

function usage(msg) {
  console.error(`${msg}\nusage: node register.mjs --issuer URL [--spec FILE.json|-] [--strict]   (clients: ${Object.keys(CLIENTS).join(', ')})`);
  process.exit(2);
}

// --- arguments and spec ---
const args = process.argv.slice(2);
const opt = name => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const issuer = opt('--issuer') ?? usage('missing --issuer');
const specPath = opt('--spec') ?? '-';
let spec;
try { spec = JSON.parse(readFileSync(specPath === '-' ? 0 : specPath, 'utf8')); } catch (e) { usage(`bad spec: ${e.message}`); }
if (!Array.isArray(spec)) usage('spec must be a JSON array');
for (const s of spec) if (!CLIENTS[s?.client]) usage(`unknown client in spec: ${JSON.stringify(s?.client)}`);

// Template + overrides; null-valued override keys delete the field.
function buildMetadata({ client, metadata = {} }) {
  const m = client === 'custom' ? { ...metadata } : { ...CLIENTS[client](), ...metadata };
  for (const k of Object.keys(m)) if (m[k] === null) delete m[k];
  return m;
}

// The SDK parses the registration response with a stripping schema, which drops
// registration_access_token / registration_client_uri (RFC 7592). So we hand it a
// fetch that keeps a copy of the raw JSON body of the last response.
// It also rejects some valid-but-odd answers, notably Hydra's "contacts": null and
// "client_uri": "" for unset fields (the client then exists server-side but the SDK
// throws). Unless --strict, we drop exactly the null / "" fields that the SDK's own
// schema refuses before it sees them, and list them as "response_fixups".
const strict = args.includes('--strict');
const SHAPE = OAuthClientInformationFullSchema.shape;
let lastRaw;
const recordingFetch = async (url, init) => {
  const res = await fetch(url, init);
  const body = await res.clone().json().catch(() => undefined);
  lastRaw = { status: res.status, body, fixups: [] };
  if (strict || !res.ok || !body || typeof body !== 'object') return res;
  const cleaned = { ...body };
  for (const [k, v] of Object.entries(body)) {
    if ((v === null || v === '') && SHAPE[k] && !SHAPE[k].safeParse(v).success) { delete cleaned[k]; lastRaw.fixups.push(k); }
  }
  return lastRaw.fixups.length ? new Response(JSON.stringify(cleaned), { status: res.status, headers: res.headers }) : res;
};

// One-line error text (zod's own message is multi-line JSON).
const describe = e => e.issues ? e.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')
  : e.message + (e.cause ? ` (${e.cause.code ?? e.cause.message})` : '');

// --- register ---
let failures = 0;
for (const entry of spec) {
  for (let i = 0; i < (entry.count ?? 1); i++) {
    const clientMetadata = buildMetadata(entry);
    lastRaw = undefined;
    try {
      // As a real client does: discover AS metadata, then POST to its registration_endpoint.
      const metadata = await discoverAuthorizationServerMetadata(issuer);
      const info = await registerClient(issuer, { metadata, clientMetadata, fetchFn: recordingFetch });
      const raw = lastRaw?.body ?? {};
      console.log(JSON.stringify({
        client: entry.client,
        client_id: info.client_id,
        client_secret: info.client_secret ?? null,
        client_name: info.client_name ?? null,
        redirect_uris: info.redirect_uris,
        token_endpoint_auth_method: info.token_endpoint_auth_method ?? null,
        registration_access_token: raw.registration_access_token ?? null,
        registration_client_uri: raw.registration_client_uri ?? null,
        ...(lastRaw.fixups.length ? { response_fixups: lastRaw.fixups } : {}),
      }));
    } catch (e) {
      failures++;
      // Prefer the server's own error code: the SDK maps codes it doesn't know (e.g.
      // invalid_redirect_uri) to server_error. A 2xx here means the server said yes but
      // the SDK rejected its answer - then the client exists server-side.
      const ok = lastRaw && lastRaw.status >= 200 && lastRaw.status < 300;
      console.log(JSON.stringify({
        client: entry.client,
        error: ok ? 'sdk_rejected_response' : lastRaw?.body?.error ?? e.errorCode ?? e.name ?? 'error',
        error_description: describe(e),
        status: lastRaw?.status ?? null,
        ...(ok && lastRaw.body?.client_id ? { client_id: lastRaw.body.client_id } : {}),
        request: clientMetadata,
      }));
    }
  }
}
process.exit(failures ? 1 : 0);
