package ui

import (
	"context"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// The console's contract with the outside: what it drives (Controller),
// what it is given (Options) and what its header says about the broker
// (BrokerInfo).

// Controller is what the console drives. The pipeline's *Runner satisfies
// it; tests pass a fake. Every method may block except Snapshot
// and AdminAvailable, and the console calls all of them from Cmds only.
type Controller interface {
	// Snapshot returns every tenant's state. It is cheap and in memory.
	Snapshot() []pipeline.TenantState
	// Step advances the tenant one stage (create → extract → transform →
	// load → release).
	Step(ctx context.Context, tenant string) error
	// RunAll runs every tenant's remaining stages.
	RunAll(ctx context.Context) error
	// Probe tries op on target's data with actor's agent, through the local
	// check and the store.
	Probe(ctx context.Context, actor, target string, op pipeline.Op) (pipeline.ProbeResult, error)
	// ProbeReleased is Probe presenting the actor's released, expired or
	// revoked token on purpose.
	ProbeReleased(ctx context.Context, actor, target string, op pipeline.Op) (pipeline.ProbeResult, error)
	// IsolationCheck runs the seed's cross-tenant isolation check.
	IsolationCheck(ctx context.Context) (pipeline.IsolationResult, error)
	// Matrix probes every actor × target × operation.
	Matrix(ctx context.Context) (pipeline.MatrixResult, error)
	// Renew renews the tenant's agent token.
	Renew(ctx context.Context, tenant string) error
	// Release releases the tenant's agent token.
	Release(ctx context.Context, tenant string) error
	// Shutdown is the way out: it cancels the work in flight, lets
	// registrations settle and releases every credential still live,
	// bounded by ctx.
	Shutdown(ctx context.Context) pipeline.ShutdownResult
	// Health asks the broker whether it is alive.
	Health(ctx context.Context) (pipeline.Health, error)
	// Revoke revokes the tenant's agent at level token, agent, task or chain.
	Revoke(ctx context.Context, tenant string, level string) error
	// Delegate has from's agent delegate scope to to's agent.
	Delegate(ctx context.Context, from, to string, scope []string) (pipeline.DelegationResult, error)
	// CreateOverCeiling asks for an agent with read:billing:<tenant>, outside
	// the app's ceiling, and returns the broker's decision.
	CreateOverCeiling(ctx context.Context, tenant string) (pipeline.Access, error)
	// Audit lists the broker's audit trail matching f.
	Audit(ctx context.Context, f pipeline.AuditFilter) (pipeline.AuditResult, error)
	// AdminAvailable reports whether revoke and audit can be used, and if
	// not, why.
	AdminAvailable() (bool, string)
}

// BrokerInfo describes the broker for the header.
type BrokerInfo struct {
	URL      string
	Mode     string // "embedded" or "external"
	Version  string
	Healthy  bool
	ClientID string // the app's client ID, already shortened
	// AdminRejected: the broker refused the admin secret at start, so
	// revoke and audit are off; the header and the first status say so.
	AdminRejected bool
}

// Options is everything the console takes from outside.
type Options struct {
	// Events are the pipeline's events. The console listens until the
	// channel is closed.
	Events <-chan pipeline.Event
	// Control runs the pipeline.
	Control Controller
	// Tenants is the catalog, in display order.
	Tenants []pipeline.Tenant
	// Broker is shown in the header.
	Broker BrokerInfo
	// TTL is the agents' lifetime, the countdown's full scale when a token
	// does not say (default 5 minutes).
	TTL time.Duration
	// Now is the clock (default time.Now). Tests pin it.
	Now func() time.Time
	// QueryBackground asks the terminal for its background colour to pick
	// light or dark styles. Off in tests: the reply never comes there.
	QueryBackground bool
	// Tour, when set, makes the console the guided tour (ui/tour.go).
	Tour *Tour // tour:
}
