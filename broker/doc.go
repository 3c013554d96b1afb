// Package broker is an embedded, in-process HTTP server that is wire-compatible
// with the AgentWrit v2.0.0 credential broker (protocol notes §3–§10).
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
// checked in constant time without bcrypt (fast logins).
package broker
