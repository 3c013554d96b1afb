// Package broker is an embedded, in-process HTTP server that is wire-compatible
// with the AgentWrit v2.0.0 credential broker (docs/protocol.md §3–§10). A
// citation "§N" in this package's comments refers to section N of
// docs/protocol.md at the repository root; §10 lists what is reproduced and
// what is left out.
//
// It serves the same routes, status codes, problem+json bodies, JWT layout,
// registration order, delegation chains, revocation rules, audit hash chain and
// rate limits as the real broker.
//
// A Server is an http.Handler factory in the httptest style:
//
//	s, err := broker.New(broker.Config{AdminSecret: secret})
//	ts := httptest.NewServer(s.Handler())
//
// or, for a listener owned by the broker itself, Start.
//
// By default everything is in memory: health reports db_connected:false and
// every New generates a fresh Ed25519 signing key (and so a fresh kid).
// With Config.DBPath the state lives in SQLite as well: apps (secrets as
// SHA-256 hashes), the signing key, launch tokens (hashed), agents,
// revocations, delegations and the audit chain. New loads it and verifies
// the chain end to end, so tokens issued before a restart still validate,
// revoked ones stay revoked and the chain continues without a new genesis.
// Each state change and its audit events commit in one transaction before
// the reply, so a crash leaves a consistent database whose chain verifies.
// Concurrent changes share commits (group commit). After a failed write the
// broker refuses every change (500) and health says db_connected:false
// until it is restarted. Reads never touch the database, and without one
// the writes cost nothing.
// Challenge nonces (30 s) and rate-limit buckets stay in memory only.
//
// With Config.TLS, Start serves HTTPS (HTTP/2 when offered; with
// ClientAuth set, mutual TLS) and every reply carries the real broker's
// Strict-Transport-Security header.
//
// Deliberate differences from the real broker ("parity exceptions", each
// pinned by a test whose name or comment says ParityException): secrets are
// checked in constant time without bcrypt (fast logins). Two
// more harden it against abuse:
//
//   - The per-client rate limits (admin login, and app login without a
//     client_id) key on the connection's peer address. The real broker takes
//     the first X-Forwarded-For item as sent (§6), which lets a client evade
//     the limit by rotating it or lock out 127.0.0.1 by spoofing it. With
//     Config.TrustProxy (tenantui broker --trust-proxy) the key is the last
//     X-Forwarded-For item instead: the address the proxy in front saw.
//   - At most Config.MaxLiveNonces challenge nonces (default 65536, ~13 MiB)
//     are live at once; beyond that GET /v1/challenge answers 429
//     rate_limited "too many outstanding challenges, try again later" with
//     Retry-After the seconds until the oldest nonce expires. The real broker
//     keeps every nonce without bound. Nonces still live 30 s and are single
//     use; expiring them costs O(1) amortised per challenge (nonce.go).
//
// Start serves with the real broker's timeouts: read-header 5 s, read 15 s
// (the body included, so a stalled or trickled body is cut off), write 30 s,
// idle 120 s.
package broker
