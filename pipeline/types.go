package pipeline

import "time"

// TenantState is a snapshot of one tenant's progress, safe to hand to the UI.
type TenantState struct {
	Tenant  Tenant
	Stage   Stage      // last completed stage (StageNone before anything ran)
	Running Stage      // stage in progress, StageNone when idle
	Agent   *AgentInfo // the tenant's current ETL agent, nil before creation
	Rows    int        // rows extracted
	Metrics *Metrics   // after transform
	Report  string     // report path after load
	// ReportJSON is the report's content as written (indented JSON).
	ReportJSON string
	Err        string // last error, one line
}

// ProbeResult is one cross-tenant attempt through both layers.
type ProbeResult struct {
	Actor, Target string
	Op            Op
	Local         Access // the caller's pre-check on the scope its token claims
	Store         Access // the store's check on the broker-validated token
	// Dedicated: the actor had no live agent, so a dedicated probe agent
	// (released afterwards) made the attempt.
	Dedicated bool
}

// Allowed reports whether the store allowed the access (the layer that counts).
func (p ProbeResult) Allowed() bool { return p.Store.Allowed }

// IsolationCheck is one expectation of the isolation check.
type IsolationCheck struct {
	Name   string // e.g. "hospital agent cannot read bank data"
	Expect bool   // expected to be allowed?
	Probe  ProbeResult
	// Pass is true when both layers decided as expected.
	Pass bool
}

// IsolationResult is the outcome of the seed's isolation check plus the
// diagram's "bank agent cannot write hospital reports".
type IsolationResult struct {
	Checks []IsolationCheck
	Passed bool
	// Note says which checks apply when the catalog has fewer than three
	// tenants; NotApplicable: one tenant, so isolation was not checked.
	Note          string
	NotApplicable bool
}

// MatrixResult is every actor × target × operation through both layers, or,
// beyond MaxMatrixTenants, a seeded sample of it.
type MatrixResult struct {
	Tenants []string
	// Probes are actor-major, then target, then read before write. In a
	// sampled matrix each actor has SampleK+1 targets, its own first (see
	// MatrixTargets): actor a's s-th target is at (a·(SampleK+1)+s)·2.
	Probes []ProbeResult
	// Failures are probes whose decision (in either layer) differs from
	// "allowed exactly when actor == target".
	Failures int
	Sampled  bool  // each actor probed its own tenant and SampleK others
	SampleK  int   // others per actor, when Sampled
	Seed     int64 // the sample's seed, when Sampled
}

// DelegationResult is one delegation attempt between two tenants' agents.
type DelegationResult struct {
	From, To string
	Scope    []string
	Allowed  bool
	Code     string // broker error_code when refused
	Reason   string
	Chain    []ChainLink // the delegated token's chain when allowed
	Token    string      // short form of the delegated token
	Expires  time.Time
	// Released: the delegated token was released once obtained; ReleaseErr
	// says why not otherwise (it then stays in the ledger until quit).
	Released   bool
	ReleaseErr string
}

// ChainLink is one record of a delegation chain.
type ChainLink struct {
	Agent       string
	Scope       []string
	DelegatedAt string
}

// AuditEntry is one broker audit event as the console shows it.
type AuditEntry struct {
	ID, Timestamp, Type, AgentID, TaskID, Detail, Outcome string
	Tenant                                                string // tenant inferred from task/agent id, "" when none
	Hash, PrevHash                                        string
}

// AuditFilter narrows an audit listing (all fields optional).
type AuditFilter struct {
	Tenant, AgentID, EventType string
	// Since keeps events at or after this time (zero: all). The chain is
	// always verified over the whole trail.
	Since time.Time
}

// AuditResult is an audit listing and the client-side chain verification.
type AuditResult struct {
	Entries []AuditEntry // filtered, oldest first
	Total   int          // events in the unfiltered trail
	// ChainOK is true when the whole unfiltered trail verified.
	ChainOK bool
	// ChainMsg is "chain verified, N events" or the first broken link.
	ChainMsg string
}
