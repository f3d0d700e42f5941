// panva's oidc-provider, configured like idp's benchmark deployment, for python -m bench.sidebyside.
//
//   node bench/peer/server.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Serves http://127.0.0.1:PORT (loopback only) with the library's in-memory adapter, one
// confidential client (client_secret_basic, authorization_code + refresh_token, RS256 ID
// tokens, pairwise subjects as idp's default) and introspection enabled. Signing keys (RSA
// 2048 and P-256, as `idp keys init` makes) are generated once per run.
//
// The benchmark needs thousands of fresh codes and tokens without a browser login. It asks
// on stdin, one command a line, and this process answers on stdout with a line starting
// "bench-peer " (the library prints its notices on stdout too):
//
//   code N FILE      N authorization codes, one per FILE line as "code verifier" (PKCE S256)
//   refresh N FILE   N refresh tokens, one a line
//   access N FILE    N access tokens, one a line
//
// Each is minted with the provider's own models and the fields its authorization endpoint
// (codes) or token endpoint (tokens) gives them after a login: a grant of its own holding
// the scope, the account, the client, acr/amr/auth_time, nonce and sid.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import readline from 'node:readline';

import Provider from 'oidc-provider';
// The default adapter's store holds 1,000 entries (2,000 at most) and evicts the oldest:
// prepared codes would be gone before their turn. The same adapter class on a store of the
// same kind, only larger, keeps every prepared code and token.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error('usage: node server.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const scope = 'openid profile pid';
const citizen = {
  accountId: 'bench-citizen',
  pid: '14038512345',
  given_name: 'Ola',
  family_name: 'Nordmann',
  name: 'Ola Nordmann',
};
const salt = crypto.randomBytes(32).toString('base64url');

function signingKey(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return {
    ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: crypto.randomUUID(),
  };
}

const store = new LRU({ maxSize: 10_000_000 });
const provider = new Provider(issuer, {
  adapter: (model) => new MemoryAdapter(model, store),
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
    subject_type: 'pairwise',
  }],
  jwks: {
    keys: [
      signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
      signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
    ],
  },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  // The scope openid brings acr, amr and auth_time into every ID token, as idp's have them.
  claims: {
    acr: null,
    amr: null,
    auth_time: null,
    iss: null,
    sid: null,
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    profile: ['name', 'given_name', 'family_name'],
    pid: ['pid'],
  },
  // idp's ID tokens carry the claims of the granted scopes, not only the protocol claims.
  conformIdTokenClaims: false,
  subjectTypes: ['public', 'pairwise'],
  pairwiseIdentifier: (ctx, accountId, client) => crypto.createHash('sha256')
    .update(`${client.sectorIdentifier}|${accountId}|${salt}`).digest('base64url'),
  features: {
    devInteractions: { enabled: false },
    introspection: {
      enabled: true,
      // As idp: a client may introspect the tokens issued to it.
      allowedPolicy: (ctx, client, token) => token.clientId === client.clientId,
    },
  },
  findAccount: (ctx, id) => (id === citizen.accountId ? {
    accountId: id,
    claims: () => ({ sub: id, ...citizen }),
  } : undefined),
  // As idp: a refresh token for every client allowed the grant (no offline_access needed),
  // rotated on every use, and tokens that outlive the browser session.
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  expiresWithSession: () => false,
  // idp's defaults, except the code: the benchmark prepares codes before the clock starts
  // (its idp deployments get 900 s too).
  ttl: {
    AuthorizationCode: 900,
    AccessToken: 600,
    IdToken: 600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 8 * 3600,
    Interaction: 3600,
  },
});

const client = await provider.Client.find(clientId);

function pkcePair() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return [verifier, crypto.createHash('sha256').update(verifier).digest('base64url')];
}

// What a login leaves for the token endpoint: who, how, when, and a grant of its own.
async function login() {
  const grant = new provider.Grant({ accountId: citizen.accountId, clientId });
  grant.addOIDCScope(scope);
  return {
    accountId: citizen.accountId,
    acr: 'idporten-loa-substantial',
    amr: ['pwd'],
    authTime: Math.floor(Date.now() / 1000),
    client,
    grantId: await grant.save(),
    nonce: crypto.randomBytes(12).toString('base64url'),
    scope,
    sid: crypto.randomUUID(),
  };
}

const mint = {
  async code() {
    const [verifier, challenge] = pkcePair();
    const code = new provider.AuthorizationCode({
      ...await login(),
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      redirectUri,
    });
    return `${await code.save()} ${verifier}`;
  },
  async refresh() {
    const token = new provider.RefreshToken({
      ...await login(), gty: 'authorization_code', rotations: 0,
    });
    return token.save();
  },
  async access() {
    const {
      accountId, grantId, sid,
    } = await login();
    const token = new provider.AccessToken({
      accountId, client, grantId, gty: 'authorization_code', scope, sid,
    });
    return token.save();
  },
};

const server = http.createServer(provider.callback());
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`bench-peer listening ${issuer}\n`));

for await (const line of readline.createInterface({ input: process.stdin })) {
  const [kind, count, file] = line.trim().split(' ');
  if (!(kind in mint) || !(Number(count) > 0) || !file) {
    process.stdout.write(`bench-peer error unknown command ${JSON.stringify(line)}\n`);
    continue;
  }
  const made = [];
  for (let i = 0; i < Number(count); i += 1) {
    made.push(await mint[kind]());
  }
  await fs.writeFile(file, `${made.join('\n')}\n`);
  process.stdout.write(`bench-peer ok ${made.length}\n`);
}
// stdin closed: the benchmark is done with this server.
server.close();
process.exit(0);
