package watch

import (
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// State is where an agent's own credential stands.
type State int

// The states. The zero value means the agent has not been issued a token
// yet (an agent_registered event without its token_issued).
const (
	StatePending  State = iota // registered, no token seen yet
	StateActive                // its current token is alive
	StateReleased              // the agent released its token itself
	StateRevoked               // the operator revoked it (see Agent.Revoked)
	StateExpired               // its token's expiry passed (by the clock)
)

var stateNames = [...]string{"pending", "active", "released", "revoked", "expired"}

// String returns the state as a lowercase word, e.g. "revoked".
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "unknown"
	}
	return stateNames[s]
}

// MarshalText writes the state as its word, so JSON shows "active".
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Ended reports whether the state is final.
func (s State) Ended() bool { return s >= StateReleased }

// Revocation is an operator's revocation rule (§7) as the trail records it.
// The audit event does not name the caller; the revoke route needs the
// admin:revoke:* scope, which only the operator's token carries, so By is
// always "operator".
type Revocation struct {
	Level   string    `json:"level"`  // token, agent, task or chain
	Target  string    `json:"target"` // a jti, a SPIFFE ID, a task id or a root SPIFFE ID
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	EventID string    `json:"event"`
}

// Delegation is one delegation_created event: From gave To a token with
// Scope. The delegated token's jti and TTL are not in the trail.
type Delegation struct {
	From      string   // the delegator's SPIFFE ID
	To        string   // the delegate's SPIFFE ID
	Scope     []string // the delegated scope
	Task      string   // the delegator's task id, which the delegated token carries
	Depth     int      // the new chain's length
	ChainHash string   // deleg_chain_hash
	// Chain is the delegation chain's agents, root first, ending with From.
	// Records before From are taken from the latest delegation From itself
	// received at depth Depth-1; an agent missing from the trail shows as "?".
	Chain   []string
	At      time.Time
	EventID string
	Revoked *Revocation // set when a rule reaches the delegated token
}

// Agent is one agent's story, rebuilt from the audit trail. Values handed
// out by [Book] are copies: their slices are never written again.
type Agent struct {
	ID       string   // SPIFFE ID
	Orch     string   // orchestrator id
	Task     string   // task id
	Tenant   string   // the common identifier of its scopes, else its task id
	Scope    []string // the scope it registered with
	AppID    string   // the app whose launch token it used, if any
	JTI      string   // its current token's jti
	Issued   time.Time
	TTL      time.Duration // the ttl of token_issued; renewals keep it
	Expires  time.Time     // when the current token expires
	Renewals int

	Received []Delegation // tokens delegated to this agent
	Given    []Delegation // tokens this agent delegated

	ReleasedAt time.Time   // zero unless it released its token
	Revoked    *Revocation // the first rule that reached its own token

	// Events are the audit events about this agent, oldest first: its own
	// events (agent_id), revocations that reached it and delegations it gave.
	Events []agentwrit.AuditEvent

	reported State // the last state a Change announced
}

// StateAt is the agent's state at now. The credential ends at the first of
// its release, its revocation and its expiry; a token is still valid during
// the second of its exp (the broker compares whole seconds, §3).
func (a *Agent) StateAt(now time.Time) State {
	if a.JTI == "" {
		return StatePending
	}
	st, at := StateActive, time.Time{}
	end := func(s State, t time.Time) {
		if !t.IsZero() && !t.After(now) && (at.IsZero() || t.Before(at)) {
			st, at = s, t
		}
	}
	end(StateExpired, a.expiredAt())
	end(StateReleased, a.ReleasedAt)
	if a.Revoked != nil {
		end(StateRevoked, a.Revoked.At)
	}
	return st
}

// expiredAt is the first instant the token no longer validates.
func (a *Agent) expiredAt() time.Time {
	if a.Expires.IsZero() {
		return time.Time{}
	}
	return a.Expires.Truncate(time.Second).Add(time.Second)
}

// Left is the time until the current token expires (negative once expired).
func (a *Agent) Left(now time.Time) time.Duration { return a.Expires.Sub(now) }

// Change is one step of an agent's story, as `tenantui watch --json` prints
// it: the agent registered, renewed, received a delegation, or its state
// became released, revoked or expired.
type Change struct {
	At         time.Time   `json:"time"`
	Kind       string      `json:"change"` // registered, renewed, delegated, released, revoked, expired
	State      State       `json:"state"`
	Agent      string      `json:"agent"`
	Tenant     string      `json:"tenant"`
	Orch       string      `json:"orch_id,omitempty"`
	Task       string      `json:"task_id,omitempty"`
	Scope      []string    `json:"scope,omitempty"`
	JTI        string      `json:"jti,omitempty"`
	Expires    time.Time   `json:"expires,omitzero"`
	From       string      `json:"from,omitempty"` // the delegator, for "delegated"
	Revocation *Revocation `json:"revocation,omitempty"`
	EventID    string      `json:"event,omitempty"` // the audit event behind it; empty for an expiry
}
