// Log a citizen in with idp from Node.js: authorization code flow with PKCE, ID token verified.
//
// panva's openid-client (OpenID certified) does every check itself: state, PKCE S256, RFC 9207 iss,
// the ID token's signature (from the JWKS, refetched when a new kid appears), iss, aud, exp, nonce.
//
//   npm ci
//   IDP_ISSUER=https://idp.example CLIENT_ID=... CLIENT_SECRET=... \
//     REDIRECT_URI=http://127.0.0.1:8000/callback node login.mjs
//
// It prints the URL to open. Log in there, then paste the address the browser was sent back to
// (the redirect URI with ?code=...). It prints the verified ID token claims and the userinfo as JSON.
// A web application does the same in two request handlers: before the redirect, and in its callback.
import * as client from "openid-client";
import { createInterface } from "node:readline";

// The level of assurance this service needs. The provider treats it as a minimum: a login that
// does not reach it ends in the error unmet_authentication_requirements, never in a weaker token.
const REQUIRED_ACR = "idporten-loa-substantial";
const ACCEPTED_ACR = ["idporten-loa-substantial", "idporten-loa-high"];

const { IDP_ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
const issuer = new URL(IDP_ISSUER);
// openid-client refuses plain http; only a provider on this machine (development) is let through.
const local = ["127.0.0.1", "localhost", "[::1]"].includes(issuer.hostname);
const config = await client.discovery(issuer, CLIENT_ID, undefined, client.ClientSecretBasic(CLIENT_SECRET), {
  execute: local ? [client.allowInsecureRequests] : [],
});

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT_URI,
  scope: "openid profile pid",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  acr_values: REQUIRED_ACR,
  state,
  nonce,
});
console.log(JSON.stringify({ authorization_url: url.href }));

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const callback = new URL((await lines.next()).value.trim());
let tokens;
try {
  tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
} catch (error) {
  // The provider said no (access_denied, login_required, unmet_authentication_requirements, ...),
  // or a check failed. error.error is the protocol's error code when there is one.
  console.log(JSON.stringify({ error: error.error ?? error.code ?? error.message }));
  process.exit(1);
}
const claims = tokens.claims();
if (!ACCEPTED_ACR.includes(claims.acr)) {
  console.error(`the login reached ${claims.acr}, not ${REQUIRED_ACR}`);
  process.exit(1);
}
// fetchUserInfo checks that userinfo is about the same subject as the ID token.
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
console.log(JSON.stringify({ claims, userinfo, scope: tokens.scope }));
process.exit(0);
