// Package pipeline runs the nightly multi-tenant ETL of the AgentWrit sample
// for real: each tenant's analytics live in the tenant's own SQLite store, each
// tenant is processed by its own short-lived agent, and every store operation
// presents the agent's token, which the store has the broker validate before it
// checks the token's claimed scope against the operation. Every access attempt,
// allowed or denied, becomes an Event.
//
// The package has no terminal code: the console (package ui) and the headless
// run (cmd/tenantui) both subscribe to its events.
//
// A citation "§N" in this package's comments refers to section N of
// docs/protocol.md at the repository root (the AgentWrit API as used here).
package pipeline
