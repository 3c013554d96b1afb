// Package agentwrit is a Go client for the AgentWrit v2.0.0 credential broker
// HTTP API. A citation "§N" in this package's comments refers to section N of
// docs/protocol.md at the repository root, which describes that API as this
// repository implements and relies on it.
//
// Three entry points cover the three roles of §1:
//
//   - [Client] is the low-level, unauthenticated part of the API (health,
//     validate, challenge, register) plus the calls an agent makes with its
//     own bearer token (renew, release, delegate).
//   - [App] is an app session (client_id + client_secret, flow B). It logs in
//     lazily, reuses its session until fewer than 60 s remain, shares one
//     login between concurrent callers, waits out the login rate limit
//     (§6) within the caller's context, and creates agents with
//     [App.CreateAgent].
//   - [Admin] is an operator session (admin secret) for app management,
//     launch tokens, revocation and the audit trail.
//
// Every error returned by an HTTP call is, once unwrapped, one of
// [*APIError] (with the more specific [*AuthenticationError] for 401,
// [*AuthorizationError] for 403, [*NotFoundError] for 404 and
// [*RateLimitError] for 429, all of which unwrap to *APIError) or
// [*TransportError] (the broker could not be reached or did not answer).
// Branch on [APIError.Code], never on its Detail text (§9).
//
// Credentials (tokens, client secrets, launch tokens, private keys) never
// appear in errors, String output or slog output: every type that holds
// one implements fmt.Stringer, fmt.GoStringer and slog.LogValuer to redact
// itself. Use [Agent.Token] only to present the token to a resource server.
package agentwrit
