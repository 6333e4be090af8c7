// Package engine is deputy's token exchange core: Exchanger checks a
// request and, when every check passes, mints a token for the target.
//
// The engine has no HTTP. A host parses its own requests (ParseRequest for
// form values, ParseJSON for the seed's JSON body, or fills a Request
// itself), calls Exchange, and writes either the Response (it marshals to
// the wire JSON) or the *Error (its MarshalJSON and HTTPStatus give the
// RFC 6749 §5.2 answer).
//
// Every exchange goes through one pipeline:
//
//  1. request shape: grant type, required and conflicting parameters;
//  2. requester: known, enabled, secret when given or confidential, and
//     allowed the grant type;
//  3. source: an id_token verified with the requester's one registered
//     algorithm and key material, its claims checked (iss, sub, exp, nbf,
//     iat, aud, azp, jti) with ClockSkew as the only leeway, and never one
//     deputy minted itself; or a refresh token of the requester's, whose
//     grant bounds the scope, with the user's profile;
//  4. target: known, enabled, listing the requester in AllowedSources;
//  5. api_type: built-in or a Minter the target enables;
//  6. scope: openid required, every scope known and allowed, within a
//     refresh grant's scope; claims filtered by the granted scope;
//  7. the target's signing key, so that a target unable to sign fails
//     before anything is consumed;
//  8. one-time use of the source's iss+jti, when Replay is set;
//  9. mint: signed with the target's algorithm and current key, header
//     typ, kid and the "deputy" mark.
//
// Any refusal stops the pipeline with an *Error and no Response. Store
// failures, timeouts, cancellation and panics are server_error.
package engine
