// Package watch follows an AgentWrit broker's audit trail and rebuilds every
// agent's story from it: who the agent is (SPIFFE ID, orchestrator, task,
// tenant), what it holds (scope, current jti, issue time and expiry),
// what happened to it (renewals, delegations given and received with their
// chains) and how it ended (released by itself, revoked by the operator at a
// level, or expired by the clock).
//
// It has no terminal code. [Book] folds audit events into [Agent] stories
// and is pure: the same events and clock give the same stories. [Chain]
// verifies the hash chain incrementally, one batch at a time. [Follower]
// reads only the events it has not seen, with since/offset paging, and
// [Watcher] polls on an interval, reports faults (an unreachable broker, a
// 429, a rejected admin login) as a live status, and resumes when the broker
// answers again. "§N" refers to docs/protocol.md: §7 for the revocation
// reach, §8 for the audit event types, their details and the hash chain.
package watch
