// An independent relying party: panva's openid-client (OpenID certified) against our provider.
// Protocol on stdio: prints {"authorization_url": ...}, reads the callback URL as one line,
// then prints {"claims", "userinfo", "refreshed_claims"} after its own validation of every response.
import * as client from "openid-client";
import { createInterface } from "node:readline";

const [issuer, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// The test provider runs on http://127.0.0.1; everything else is the library's default strictness.
const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), {
  execute: [client.allowInsecureRequests],
});

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: "openid profile email offline_access",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  state,
  nonce,
});
console.log(JSON.stringify({ authorization_url: url.href }));

const callback = (await lines.next()).value;
const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
console.log(JSON.stringify({ claims, userinfo, refreshed_claims: refreshed.claims() }));
process.exit(0);
