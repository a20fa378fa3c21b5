// Package oauth authenticates applications that publish events: Switchboard as an OAuth2
// client-credentials issuer (RFC 6749 §4.4) with rotating ES256 signing keys, a verifier of
// its own tokens, a verifier of tokens from an outside OpenID Connect issuer, and a check of
// TLS client certificates.
//
// State lives in JetStream KV so that every Switchboard instance sharing the bus verifies
// tokens another one issued: credentials (bucket sb_oauth_clients, secrets stored only as
// salted HMAC-SHA-256) and signing keys (bucket sb_oauth_keys). The signing keys are private
// keys on the bus, as every secret on the bus is: whoever can read the bus can mint tokens,
// so the bus must be reachable only by Switchboard instances (see internal/bus's Token).
package oauth
