// A certified OpenID provider (the `oidc-provider` package) for the portal's single sign-on tests,
// on loopback. Started by tests/oidc/idp.py as `node provider.mjs CONFIG.json`, where the config
// gives:
//
//   issuer, port            where it listens (always 127.0.0.1) and the issuer it names
//   name                    the name on its pages ("Test IdP")
//   client                  one confidential client: client_id, client_secret, redirect_uris,
//                           post_logout_redirect_uris
//   jwks                    its signing keys, private parts included (the tests keep a copy, to
//                           re-sign a token with the provider's own key when they need one)
//   end_session             false turns RP-initiated logout off (no end_session_endpoint)
//   claims_in_id_token      true puts the person's claims in the ID token too; otherwise, as
//                           oidc-provider does by default (conformIdTokenClaims), the ID token of
//                           the code flow says only `sub` and the claims are at userinfo
//   cookie_keys             keys for its signed cookies
//   state                   a JSON file the tests rewrite while it runs, read again at each use:
//                           {"accounts": {login: {"password": …, "claims": {"sub": …, …}}},
//                            "token_endpoint": URL, "userinfo_endpoint": URL}  (the endpoints
//                           discovery advertises, for a relay in front of the real ones; absent,
//                           the real ones)
//
// Its own choices, as a company provider would be set up for the portal: PKCE (S256) required,
// groups with the profile scope (so, like the person's other claims, at userinfo by default: an
// openid-scope claim would be in the ID token whatever conformIdTokenClaims says), the portal a
// first-party client (no consent screen). Sign-in is a minimal page of its own (username
// and password from the accounts, or Cancel, which answers access_denied). Every page is plain
// HTML with nothing fetched from elsewhere.

import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const state = () => JSON.parse(readFileSync(config.state, 'utf8'));

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><main>${body}</main></body></html>`;
}

const provider = new Provider(config.issuer, {
  clients: [{
    ...config.client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: config.jwks,
  cookies: { keys: config.cookie_keys },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'groups'],
  },
  conformIdTokenClaims: config.claims_in_id_token !== true,
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: config.end_session !== false,
      async logoutSource(ctx, form) {
        ctx.body = page(`Sign out of ${config.name}`, `<h1>Sign out of ${escape(config.name)}?</h1>${form}`
          + '<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>'
          + '<button type="submit" form="op.logoutForm">No, stay signed in</button>');
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', `<h1>Signed out of ${escape(config.name)}</h1>`);
      },
    },
  },
  async findAccount(ctx, sub) {
    const account = Object.values(state().accounts).find((a) => a.claims.sub === sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => account.claims };
  },
  async loadExistingGrant(ctx) {
    // The portal is a first-party client: the grant is made without asking (oidc-provider's
    // "skipping consent" recipe).
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>${escape(config.name)} could not go on</h1>`
      + `<p role="alert">${escape(out.error)}: ${escape(out.error_description || '')}</p>`);
  },
});

// Discovery names the token and userinfo endpoints the tests want (a relay in front of the real
// ones) when the state file says so.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/.well-known/openid-configuration' && ctx.body) {
    const { token_endpoint, userinfo_endpoint } = state();
    if (token_endpoint) ctx.body = { ...ctx.body, token_endpoint };
    if (userinfo_endpoint) ctx.body = { ...ctx.body, userinfo_endpoint };
  }
});

function signInPage(uid, error = '') {
  const alert = error ? `<p role="alert">${escape(error)}</p>` : '';
  return page(`Sign in to ${config.name}`, `<h1>Sign in to ${escape(config.name)}</h1>${alert}`
    + `<form method="post" action="/interaction/${escape(uid)}/login">`
    + '<label>IdP username <input name="username" autocomplete="username" required></label> '
    + '<label>IdP password <input name="password" type="password" autocomplete="current-password" required></label> '
    + '<button type="submit">Continue</button></form>'
    + `<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return Object.fromEntries(new URLSearchParams(body));
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

// The sign-in interaction: /interaction/UID (the page), …/login (its form), …/abort (Cancel).
async function interaction(req, res, path) {
  const [, , uid, action = ''] = path.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid || details.prompt.name !== 'login') {
    return send(res, 400, page('Error', '<p role="alert">No sign-in waits here.</p>'));
  }
  if (req.method === 'GET' && action === '') return send(res, 200, signInPage(uid));
  if (req.method === 'POST' && action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'The person cancelled the sign-in.',
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = state().accounts[form.username];
    if (!account || account.password !== form.password) {
      return send(res, 200, signInPage(uid, 'Wrong username or password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.claims.sub } }, {
      mergeWithLastSubmission: false,
    });
  }
  return send(res, 405, page('Error', '<p>Method not allowed.</p>'));
}

const handle = provider.callback();
const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, config.issuer);
  if (!pathname.startsWith('/interaction/')) return handle(req, res);
  return interaction(req, res, pathname).catch((err) => {
    send(res, 400, page('Error', `<p role="alert">${escape(err.message)}</p>`));
  });
});
server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${config.issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
