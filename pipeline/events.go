package pipeline

import (
	"time"

	"github.com/tenantui/tenantui/scope"
)

// Stage is one step of a tenant's ETL, in order.
type Stage int

// The stages. StageNone means nothing has happened yet for the tenant.
const (
	StageNone Stage = iota
	StageCreate
	StageExtract
	StageTransform
	StageLoad
	StageRelease
)

// Stages lists the ETL stages in order (without StageNone).
var Stages = []Stage{StageCreate, StageExtract, StageTransform, StageLoad, StageRelease}

var stageNames = [...]string{"none", "create", "extract", "transform", "load", "release"}

// String names the stage.
func (s Stage) String() string {
	if s >= 0 && int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "unknown"
}

// Op is a guarded store operation.
type Op int

// The two operations a store guards.
const (
	OpRead  Op = iota // read analytics: needs read:analytics:<tenant>
	OpWrite           // write a report: needs write:reports:<tenant>
)

// String names the operation.
func (o Op) String() string {
	if o == OpWrite {
		return "write"
	}
	return "read"
}

// Label is the operation as the console shows it.
func (o Op) Label() string {
	if o == OpWrite {
		return "write report"
	}
	return "read analytics"
}

// Layer says where an access decision was made.
type Layer string

// The layers. LayerLocal is the caller's own pre-check on the scope it holds
// (the seed's scope_is_subset); LayerStore is the data store's check on the
// token the broker validated; LayerBroker is the broker refusing a request
// itself (delegation, over-ceiling creation).
const (
	LayerLocal  Layer = "local"
	LayerStore  Layer = "store"
	LayerBroker Layer = "broker"
)

// AgentState is the lifecycle state of an agent's credential.
type AgentState int

// The states shown on the agent card.
const (
	AgentNone AgentState = iota
	AgentActive
	AgentReleased
	AgentExpired
	AgentRevoked
)

var agentStateNames = [...]string{"none", "active", "released", "expired", "revoked"}

// String names the state.
func (s AgentState) String() string {
	if s >= 0 && int(s) < len(agentStateNames) {
		return agentStateNames[s]
	}
	return "unknown"
}

// AgentInfo is a redacted snapshot of an agent: safe to display and log.
type AgentInfo struct {
	SPIFFEID  string
	TaskID    string
	OrchID    string
	JTI       string // full JTI (not a secret); display a prefix
	Token     string // short form only, e.g. "eyJhbGciOiJF…"
	Scope     []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	State     AgentState
	Renewals  int
}

// ShortJTI returns the first 8 characters of the JTI.
func (a AgentInfo) ShortJTI() string {
	if len(a.JTI) > 8 {
		return a.JTI[:8]
	}
	return a.JTI
}

// Access is one access attempt and its decision.
type Access struct {
	Time     time.Time
	AgentID  string // SPIFFE ID of the acting agent ("" when none)
	JTI      string // the acting token's JTI
	Actor    string // acting tenant id
	Target   string // target tenant id
	Op       Op
	Layer    Layer
	Allowed  bool
	Required []string
	Held     []string // scope held: claimed by the token (local) or validated by the broker (store)
	Reason   string   // one line: which segment differs, or why the token was refused
	Decision scope.Decision
	Code     string // broker error_code or store code ("token_invalid", "scope") when denied
}

// Verdict is "ALLOW" or "DENY".
func (a Access) Verdict() string {
	if a.Allowed {
		return "ALLOW"
	}
	return "DENY"
}

// Metrics are a tenant's computed analytics. Values are already formatted for
// display, in the order given by Names.
type Metrics struct {
	Names  []string
	Values map[string]string
	Raw    map[string]float64
}

// EventKind says what an Event reports.
type EventKind int

// The kinds of event.
const (
	EventAgentCreated EventKind = iota
	EventStageStarted
	EventStageFinished
	EventDecision
	EventReportWritten
	EventReleased
	EventRenewed
	EventRevoked
	EventExpired
	EventDelegated
	EventError
	EventInfo
)

var eventKindNames = [...]string{
	"agent_created", "stage_started", "stage_finished", "decision", "report_written",
	"released", "renewed", "revoked", "expired", "delegated", "error", "info",
}

// String names the kind (as used in --json output).
func (k EventKind) String() string {
	if k >= 0 && int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one thing that happened in the pipeline. Only the fields that
// belong to the kind are set.
type Event struct {
	Seq     int64
	Time    time.Time
	Kind    EventKind
	Tenant  string // the tenant the event is about ("" for run-wide events)
	Stage   Stage
	Agent   *AgentInfo
	Access  *Access
	Metrics *Metrics
	Rows    int    // rows extracted
	Report  string // report path (for an extract: the database read)
	Err     string // error text, one line
	Message string // human summary, one line
}
