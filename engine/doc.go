// Package engine is deputy's token exchange core: Exchanger checks a
// request and, when every check passes, mints a token for the target.
//
// It speaks two dialects over one pipeline, chosen by grant type:
//
//   - delegation (GrantTypeJWTBearer, Auth0's /delegation): client_id,
//     id_token or refresh_token, target, scope, api_type; answered with an
//     id_token for the target;
//   - token exchange (GrantTypeTokenExchange, RFC 8693): subject_token and
//     its type (id_token, access_token, jwt, refresh_token), an optional
//     actor_token, audience or resource naming the target, scope and
//     requested_token_type; answered with an RFC 9068 access token (or an
//     id_token on request) whose act claim records who acts for the user.
//
// The engine has no HTTP. A host parses its own requests (ParseRequest for
// form values, ParseJSON for the seed's JSON body, or fills a Request
// itself), calls Exchange, and writes either the Response (it marshals to
// the wire JSON of its dialect) or the *Error (its MarshalJSON and
// HTTPStatus give the RFC 6749 §5.2 answer).
//
// Every exchange goes through one pipeline:
//
//  1. request shape: grant type, required and conflicting parameters;
//  2. requester: known, enabled, authenticated — by its secret when given
//     or confidential, or by Config.ClientAuth (package clientauth: hashed
//     secrets, private_key_jwt, mutual TLS) — and allowed the grant type
//     (Authenticate runs this step alone);
//  3. source: a JWS verified with the requester's one registered algorithm
//     and key material, its claims checked (iss, sub, exp within
//     MaxSourceExpiry, nbf, iat, aud, azp for id_tokens, jti) with
//     ClockSkew as the only leeway; an id_token is never one deputy minted,
//     while an access token deputy minted for the requester may be
//     presented again, which is how services chain; or a refresh token of
//     the requester's, whose grant bounds the scope, with the user's
//     profile. In token exchange also the actor token, the act chain
//     (at most MaxActDepth deep) and may_act;
//  4. target: known, enabled, listing the requester in AllowedSources;
//  5. api_type (delegation): built-in or a Minter the target enables (an
//     absent api_type means the target's DefaultAPIType);
//  6. scope: known and allowed by the target, within the source's bound (a
//     refresh grant's scope, an access token's scope claim), openid when
//     an id_token is minted; claims filtered by the granted scope;
//  7. lifetime: the target's or the default; in token exchange never past
//     the subject's exp, so chains and renewals run down;
//  8. Config.Policy, when set: the host's own rules on a copy of the
//     settled Grant — refuse, narrow the scope, add claims (never owned
//     ones, never ones a scope not granted releases);
//  9. the target's signing key, so that a target unable to sign fails
//     before anything is consumed;
//  10. one-time use of the subject token, when Replay is set, keyed by a
//     digest of issuer, signer and jti;
//  11. mint: signed with the target's algorithm and current key (in
//     memory, or a jose.OpaqueSigner such as package signer makes of a
//     KMS or HSM key), header typ (JWT or at+jwt), kid and the "deputy"
//     mark.
//
// Any refusal stops the pipeline with an *Error and no Response. A refused
// source token is invalid_grant in delegation and invalid_request in token
// exchange (RFC 8693 §2.2.2). Store failures, timeouts, cancellation and
// panics are server_error.
package engine
