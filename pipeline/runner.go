package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/scope"
)

// DefaultOrchID is the orchestrator id of the sample's agents.
const DefaultOrchID = "nightly-pipeline"

// Config configures a Runner.
type Config struct {
	App        *agentwrit.App // creates agents and validates tokens
	Admin      *agentwrit.Admin
	NoAdminWhy string // why Admin is nil, shown to the operator
	Tenants    []Tenant
	DataDir    string
	ReportsDir string
	TTL        time.Duration // agents' max TTL, whole seconds (default 5 minutes)
	Seed       int64         // data generator seed
	Scale      float64       // bank/retail size as a fraction of the seed's (default 0.01)
	// Concurrency bounds RunAll and Matrix (default 4).
	Concurrency int
	OrchID      string
	// Emit receives every event, in order, from whichever goroutine produced
	// it. It must not block for long.
	Emit func(Event)
	Now  func() time.Time
}

// Runner drives the pipeline. Its methods are safe for concurrent use; each
// tenant's stages run one at a time.
type Runner struct {
	cfg     Config
	index   map[string]int
	tenants []*tenantRun
	seq     atomic.Int64
	emitMu  sync.Mutex
	dirs    *reportSync // reports' file and directory syncs, batched by RunAll and Matrix

	taskMu     sync.Mutex
	taskTenant map[string]string // task id → tenant id, for the audit screen
	idTenant   map[string]string // SPIFFE ID → tenant id, likewise

	led ledger // every credential obtained

	// life ends when Shutdown begins: every call's context is joined to it,
	// so quitting cancels the work in flight.
	life       context.Context
	cancelWork context.CancelFunc
	renewWG    sync.WaitGroup // the auto-renewal goroutine
	ops        counter        // calls under way (see work)
	shutOnce   sync.Once
	shutDone   chan struct{}
	shutRes    ShutdownResult
}

// registerTimeout bounds a registration, which runs to its end even when
// its caller is cancelled: a registration the broker completes after the
// client stopped listening would leave a live agent that no one can release.
const registerTimeout = 10 * time.Second

// work joins ctx to the runner's life: the returned context ends when either
// does. Every public call that talks to the broker runs under it.
func (r *Runner) work(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(r.life, func() { cancel(ErrShuttingDown) })
	r.ops.add()
	return c, func() { stop(); cancel(nil); r.ops.done() }
}

// counter counts calls under way and lets one wait for none.
type counter struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (c *counter) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.idle = make(chan struct{})
	}
	c.n++
}

func (c *counter) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.n == 0 {
		close(c.idle)
	}
}

// wait waits until none is under way or ctx ends, and returns how many are.
func (c *counter) wait(ctx context.Context) int {
	c.mu.Lock()
	idle, n := c.idle, c.n
	c.mu.Unlock()
	if n == 0 {
		return 0
	}
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.n
	}
}

type tenantRun struct {
	t      Tenant
	step   sync.Mutex // held while a stage runs
	openMu sync.Mutex // held while the store is opened

	mu         sync.Mutex // guards the fields below
	store      *Store
	users      int  // callers using store (see acquireStore)
	retire     bool // close store whenever no one uses it
	dataPath   string
	stage      Stage
	running    Stage
	agent      *agentwrit.Agent
	released   bool
	revoked    bool
	renewals   int
	rows       []Row
	nrows      int
	metrics    *Metrics
	report     string
	reportJSON string
	err        string
}

// New returns a runner for cfg. It does not contact the broker.
func New(cfg Config) (*Runner, error) {
	if cfg.App == nil {
		return nil, errors.New("pipeline: no AgentWrit app")
	}
	if len(cfg.Tenants) == 0 {
		cfg.Tenants = DefaultTenants()
	}
	if err := NormalizeTenants(cfg.Tenants); err != nil {
		return nil, err
	}
	if cfg.TTL < time.Second {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.Scale <= 0 {
		cfg.Scale = DefaultScale
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.OrchID == "" {
		cfg.OrchID = DefaultOrchID
	}
	if cfg.Emit == nil {
		cfg.Emit = func(Event) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DataDir == "" || cfg.ReportsDir == "" {
		return nil, errors.New("pipeline: data and reports directories are required")
	}
	r := &Runner{cfg: cfg, index: make(map[string]int, len(cfg.Tenants)), taskTenant: map[string]string{}, idTenant: map[string]string{},
		shutDone: make(chan struct{}), dirs: newReportSync()}
	r.life, r.cancelWork = context.WithCancel(context.Background())
	for i, t := range cfg.Tenants {
		r.index[t.ID] = i
		r.tenants = append(r.tenants, &tenantRun{t: t})
	}
	return r, nil
}

// Tenants returns the catalog.
func (r *Runner) Tenants() []Tenant { return append([]Tenant(nil), r.cfg.Tenants...) }

// TTL is the agents' max TTL.
func (r *Runner) TTL() time.Duration { return r.cfg.TTL }

func (r *Runner) emit(ev Event) {
	// One lock so that sequence numbers and delivery order agree.
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	ev.Seq = r.seq.Add(1)
	if ev.Time.IsZero() {
		ev.Time = r.cfg.Now()
	}
	r.cfg.Emit(ev)
}

func (r *Runner) tenant(id string) (*tenantRun, error) {
	i, ok := r.index[id]
	if !ok {
		return nil, fmt.Errorf("unknown tenant %q", id)
	}
	return r.tenants[i], nil
}

// acquireStore returns the tenant's store, opening it on first use, and
// counts the caller as a user until it calls releaseStore: a store is never
// closed while in use.
func (r *Runner) acquireStore(ctx context.Context, tr *tenantRun) (*Store, error) {
	tr.openMu.Lock()
	defer tr.openMu.Unlock()
	tr.mu.Lock()
	if s := tr.store; s != nil {
		tr.users++
		tr.mu.Unlock()
		return s, nil
	}
	tr.mu.Unlock()
	rows := tr.t.Rows
	if rows == 0 {
		rows = DefaultRows(tr.t.Kind, r.cfg.Scale)
	}
	s, err := OpenStore(ctx, tr.t, StoreConfig{
		DataDir: r.cfg.DataDir, ReportsDir: r.cfg.ReportsDir, Seed: r.cfg.Seed, Rows: rows,
		Validator: r.cfg.App, Now: r.cfg.Now, dirs: r.dirs,
		Emit: func(a Access) {
			r.emit(Event{Kind: EventDecision, Tenant: a.Actor, Access: &a, Message: accessMessage(a)})
		},
	})
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	tr.store, tr.dataPath = s, s.Path()
	tr.users++
	tr.mu.Unlock()
	return s, nil
}

// releaseStore ends a use begun by acquireStore; a retired store closes when
// its last user is done.
func (r *Runner) releaseStore(tr *tenantRun) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.users--
	tr.closeIdleStoreLocked()
}

// retireStore closes the tenant's store now if no one uses it, else when its
// last user is done (large catalogs keep memory flat this way).
func (r *Runner) retireStore(tr *tenantRun) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.retire = true
	tr.closeIdleStoreLocked()
}

// closeIdleStoreLocked closes a retired store that no one uses. tr.mu is
// held.
func (tr *tenantRun) closeIdleStoreLocked() {
	if tr.retire && tr.users == 0 && tr.store != nil {
		tr.store.Close()
		tr.store = nil
	}
}

// Prepare opens every tenant's store, generating missing data, with bounded
// concurrency. It is optional: stores open on first use.
func (r *Runner) Prepare(ctx context.Context) error {
	ctx, done := r.work(ctx)
	defer done()
	return r.forEach(ctx, r.tenants, func(ctx context.Context, tr *tenantRun) error {
		_, err := r.acquireStore(ctx, tr)
		if err == nil {
			r.releaseStore(tr)
		}
		return err
	})
}

// Close closes every store. It does not release agents (see Shutdown).
func (r *Runner) Close() error {
	var errs []error
	for _, tr := range r.tenants {
		tr.mu.Lock()
		if tr.store != nil {
			errs = append(errs, tr.store.Close())
			tr.store = nil
		}
		tr.mu.Unlock()
	}
	return errors.Join(errs...)
}

// agentInfoLocked snapshots the tenant's agent for display, its state as of
// now. tr.mu is held.
func (tr *tenantRun) agentInfoLocked(now time.Time) *AgentInfo {
	if tr.agent == nil {
		return nil
	}
	return agentInfo(tr.agent, tr.released, tr.revoked, tr.renewals, now)
}

// agentInfo snapshots agent g for display, its state as of now.
func agentInfo(g *agentwrit.Agent, released, revoked bool, renewals int, now time.Time) *AgentInfo {
	info := &AgentInfo{
		SPIFFEID: g.ID(), TaskID: g.TaskID(), OrchID: g.OrchID(), JTI: g.JTI(), Token: g.ShortToken(),
		Scope: g.Scope(), IssuedAt: g.IssuedAt(), ExpiresAt: g.ExpiresAt(), Renewals: renewals,
	}
	switch {
	case released:
		info.State = AgentReleased
	case revoked:
		info.State = AgentRevoked
	case !now.Before(info.ExpiresAt):
		info.State = AgentExpired
	default:
		info.State = AgentActive
	}
	return info
}

// Snapshot returns every tenant's state. It does no I/O.
func (r *Runner) Snapshot() []TenantState {
	out := make([]TenantState, len(r.tenants))
	for i, tr := range r.tenants {
		tr.mu.Lock()
		out[i] = TenantState{Tenant: tr.t, Stage: tr.stage, Running: tr.running, Agent: tr.agentInfoLocked(r.cfg.Now()),
			Rows: tr.nrows, Metrics: tr.metrics, Report: tr.report, ReportJSON: tr.reportJSON, Err: tr.err}
		tr.mu.Unlock()
	}
	return out
}

// LiveAgents counts agents that are neither released nor revoked nor expired.
func (r *Runner) LiveAgents() int {
	n := 0
	for _, tr := range r.tenants {
		tr.mu.Lock()
		if info := tr.agentInfoLocked(r.cfg.Now()); info != nil && info.State == AgentActive {
			n++
		}
		tr.mu.Unlock()
	}
	return n
}

func (r *Runner) taskID(prefix, tenant string) string {
	id := prefix + "-" + tenant + "-" + strconv.FormatInt(r.cfg.Now().Unix(), 10)
	r.taskMu.Lock()
	r.taskTenant[id] = tenant
	r.taskMu.Unlock()
	return id
}

// createAgent registers an agent for t and records it in the ledger before
// anyone uses it. Once begun, the registration runs to its end (bounded by
// registerTimeout) even if ctx is cancelled: the ledger then owns the agent
// and Shutdown releases it.
func (r *Runner) createAgent(ctx context.Context, t Tenant, taskPrefix, role string) (*agentwrit.Agent, error) {
	return r.register(ctx, t.ID, taskPrefix, role, t.Scopes())
}

// register is createAgent with any scope (the over-ceiling demo asks for one
// outside the app's ceiling).
func (r *Runner) register(ctx context.Context, tenantID, taskPrefix, role string, scopes []string) (*agentwrit.Agent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.led.begin(); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), registerTimeout)
	g, err := r.cfg.App.CreateAgent(rctx, r.cfg.OrchID, r.taskID(taskPrefix, tenantID), scopes,
		&agentwrit.AgentOptions{MaxTTL: int(r.cfg.TTL / time.Second)})
	cancel()
	if err != nil {
		r.led.end(nil)
		return nil, fmt.Errorf("create agent for %s: %w", tenantID, err)
	}
	c := &credential{tenant: tenantID, role: role, agent: g, id: g.ID(), jti: g.JTI(), exp: g.ExpiresAt()}
	r.led.end(c)
	r.taskMu.Lock()
	r.idTenant[g.ID()] = tenantID
	r.taskMu.Unlock()
	err = ctx.Err()
	if err == nil && r.life.Err() != nil {
		// Shutdown began while registering (the call's own context learns
		// it a moment later, asynchronously).
		err = ErrShuttingDown
	}
	if err != nil {
		// Cancelled while registering: nobody will use this agent.
		r.releaseTransient(ctx, tenantID, g)
		return nil, err
	}
	return g, nil
}

// liveAgentLocked returns the tenant's agent if it is active at now (not
// released, revoked or expired), else nil. tr.mu is held.
func (tr *tenantRun) liveAgentLocked(now time.Time) *agentwrit.Agent {
	if info := tr.agentInfoLocked(now); info != nil && info.State == AgentActive {
		return tr.agent
	}
	return nil
}

// Step advances a tenant by one stage. After the release stage, the next
// step starts the tenant over with a new agent.
func (r *Runner) Step(ctx context.Context, tenantID string) error {
	ctx, done := r.work(ctx)
	defer done()
	tr, err := r.tenant(tenantID)
	if err != nil {
		return err
	}
	tr.step.Lock()
	defer tr.step.Unlock()
	return r.runStep(ctx, tr)
}

// startsOverLocked reports whether the tenant's next step starts it over
// with a fresh agent: after a finished run, when its agent can no longer act
// (expired, revoked, released mid-run) or when its last stage failed. tr.mu
// is held.
func (tr *tenantRun) startsOverLocked(now time.Time) bool {
	if tr.stage == StageRelease || tr.stage == StageNone {
		return true
	}
	return tr.err != "" || tr.liveAgentLocked(now) == nil
}

// runStep runs the tenant's next stage. The caller holds tr.step (stages of
// one tenant run one at a time).
func (r *Runner) runStep(ctx context.Context, tr *tenantRun) error {
	tr.mu.Lock()
	next := tr.stage + 1
	var old *agentwrit.Agent
	if tr.startsOverLocked(r.cfg.Now()) {
		next = StageCreate
		if tr.stage != StageNone && tr.stage != StageRelease {
			old = tr.liveAgentLocked(r.cfg.Now()) // a failed stage's agent: not needed any more
		}
	}
	tr.running = next
	tr.err = ""
	tr.mu.Unlock()
	if old != nil {
		r.releaseTransient(ctx, tr.t.ID, old)
	}

	r.emit(Event{Kind: EventStageStarted, Tenant: tr.t.ID, Stage: next, Message: tr.t.ID + ": " + next.String() + " started"})
	err := r.runStage(ctx, tr, next)
	tr.mu.Lock()
	tr.running = StageNone
	if err == nil {
		tr.stage = next
	} else {
		tr.err = oneLine(err)
	}
	tr.mu.Unlock()
	if err != nil {
		r.emit(Event{Kind: EventError, Tenant: tr.t.ID, Stage: next, Err: oneLine(err), Message: fmt.Sprintf("%s — %s: %s failed", Cause(err), tr.t.ID, next)})
		return err
	}
	ev := Event{Kind: EventStageFinished, Tenant: tr.t.ID, Stage: next, Message: tr.t.ID + ": " + next.String() + " done"}
	tr.mu.Lock()
	switch next {
	case StageExtract:
		ev.Rows = tr.nrows
		ev.Report = tr.dataPath // where the rows came from
	case StageTransform:
		ev.Rows, ev.Metrics = tr.nrows, tr.metrics
	case StageLoad:
		ev.Rows, ev.Metrics, ev.Report = tr.nrows, tr.metrics, tr.report
	case StageCreate, StageRelease:
		ev.Agent = tr.agentInfoLocked(r.cfg.Now())
	}
	tr.mu.Unlock()
	r.emit(ev)
	return nil
}

func (r *Runner) runStage(ctx context.Context, tr *tenantRun, st Stage) error {
	t := tr.t
	tr.mu.Lock()
	g := tr.agent
	tr.mu.Unlock()
	switch st {
	case StageCreate:
		g, err := r.createAgent(ctx, t, "etl", RoleStage)
		if err != nil {
			return err
		}
		tr.mu.Lock()
		tr.agent, tr.released, tr.revoked, tr.renewals = g, false, false, 0
		tr.rows, tr.nrows, tr.metrics, tr.report, tr.reportJSON = nil, 0, nil, "", ""
		info := tr.agentInfoLocked(r.cfg.Now())
		tr.mu.Unlock()
		r.emit(Event{Kind: EventAgentCreated, Tenant: t.ID, Stage: st, Agent: info,
			Message: fmt.Sprintf("%s: agent %s created, scope %v, expires in %ds", t.ID, g.ID(), g.Scope(), int(r.cfg.TTL/time.Second))})
		return nil

	case StageExtract:
		if !r.localCheck(g, t.ID, t, OpRead).Allowed {
			return fmt.Errorf("local check denied reading %s data", t.ID)
		}
		s, err := r.acquireStore(ctx, tr)
		if err != nil {
			return err
		}
		rows, _, err := s.Read(ctx, g.Token(), t.ID)
		r.releaseStore(tr)
		if err != nil {
			return err
		}
		tr.mu.Lock()
		tr.rows, tr.nrows = rows, len(rows)
		tr.mu.Unlock()
		return nil

	case StageTransform:
		// The sample re-checks the read scope before transforming.
		if !r.localCheck(g, t.ID, t, OpRead).Allowed {
			return fmt.Errorf("local check denied transforming %s data", t.ID)
		}
		tr.mu.Lock()
		m := Transform(t.Kind, tr.rows)
		tr.metrics = m
		tr.mu.Unlock()
		return nil

	case StageLoad:
		if !r.localCheck(g, t.ID, t, OpWrite).Allowed {
			return fmt.Errorf("local check denied writing %s reports", t.ID)
		}
		tr.mu.Lock()
		m, n := tr.metrics, tr.nrows
		tr.mu.Unlock()
		if m == nil {
			return errors.New("nothing to load: transform has not run")
		}
		s, err := r.acquireStore(ctx, tr)
		if err != nil {
			return err
		}
		rep := newReport(t, n, m, g.ID(), g.TaskID(), r.cfg.Now())
		path, data, _, err := s.WriteReport(ctx, g.Token(), t.ID, "latest.json", rep)
		r.releaseStore(tr)
		if err != nil {
			return err
		}
		tr.mu.Lock()
		tr.report, tr.reportJSON, tr.rows = path, string(data), nil
		tr.mu.Unlock()
		r.emit(Event{Kind: EventReportWritten, Tenant: t.ID, Stage: st, Report: path, Metrics: m,
			Message: t.ID + ": report written to " + path})
		return nil

	case StageRelease:
		return r.releaseAgent(ctx, tr)
	}
	return fmt.Errorf("unknown stage %v", st)
}

// localCheck is the caller-side pre-check the sample does with
// scope_is_subset: the scope the agent's token claims against the scope the
// operation needs. It emits and returns the decision.
func (r *Runner) localCheck(g *agentwrit.Agent, actor string, target Tenant, op Op) Access {
	required := []string{target.ScopeFor(op)}
	held := g.Scope()
	d := scope.Check(required, held)
	a := Access{Time: r.cfg.Now(), AgentID: g.ID(), JTI: g.JTI(), Actor: actor, Target: target.ID, Op: op,
		Layer: LayerLocal, Allowed: d.Allowed, Required: required, Held: held, Reason: d.Reason(), Decision: d}
	if !d.Allowed {
		a.Code = "scope"
	}
	r.emit(Event{Kind: EventDecision, Tenant: actor, Access: &a, Message: accessMessage(a)})
	return a
}

func accessMessage(a Access) string {
	return a.Verdict() + " " + string(a.Layer) + ": " + a.Actor + " → " + a.Target + " " + a.Op.Label() + ": " + a.Reason
}

// releaseAgent releases the tenant's agent: the tenant shows RELEASED only
// when the broker released it (see release).
func (r *Runner) releaseAgent(ctx context.Context, tr *tenantRun) error {
	tr.mu.Lock()
	g, released := tr.agent, tr.released
	tr.mu.Unlock()
	if g == nil || released {
		return nil
	}
	c := r.led.find(g)
	if c == nil {
		return fmt.Errorf("%s agent %s is not in the ledger", tr.t.ID, g.ID())
	}
	_, _, err := r.release(ctx, c)
	return err
}

// RunTenant runs the tenant's remaining stages through release. The agent is
// released whatever happens, even when ctx is cancelled.
func (r *Runner) RunTenant(ctx context.Context, tenantID string) error {
	ctx, done := r.work(ctx)
	defer done()
	tr, err := r.tenant(tenantID)
	if err != nil {
		return err
	}
	return r.runTenant(ctx, tr)
}

func (r *Runner) runTenant(ctx context.Context, tr *tenantRun) (err error) {
	tr.step.Lock()
	defer tr.step.Unlock()
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			r.releaseAgent(rctx, tr)
		}
	}()
	for first := true; ; first = false {
		tr.mu.Lock()
		done := tr.stage == StageRelease && !first
		tr.mu.Unlock()
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.runStep(ctx, tr); err != nil {
			return err
		}
	}
}

// RunAll runs every tenant to completion with bounded concurrency and returns
// the errors joined. Every agent is released.
func (r *Runner) RunAll(ctx context.Context) error {
	ctx, done := r.work(ctx)
	defer done()
	defer r.dirs.hold()()
	many := len(r.tenants) > 16
	return r.forEach(ctx, r.tenants, func(ctx context.Context, tr *tenantRun) error {
		leave := r.dirs.enter()
		err := r.runTenant(ctx, tr)
		leave()
		if many {
			r.retireStore(tr) // keep memory flat for large catalogs
		}
		return err
	})
}

// forEach runs f for every tenant run, on at most Concurrency workers. The
// workers are long-lived goroutines fed one tenant at a time: a goroutine
// per tenant had to grow its stack again for every tenant (the SQLite and
// HTTP call chains are deep), which cost a fiftieth of a 1,000-tenant run.
// Once ctx ends no further tenant starts.
func (r *Runner) forEach(ctx context.Context, trs []*tenantRun, f func(context.Context, *tenantRun) error) error {
	workers := min(max(r.cfg.Concurrency, 1), len(trs))
	next := make(chan *tenantRun)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range workers {
		wg.Go(func() {
			for tr := range next {
				if err := f(ctx, tr); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	var stopped error
feed:
	for _, tr := range trs {
		select {
		case next <- tr:
		case <-ctx.Done():
			stopped = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if stopped != nil {
		errs = append(errs, stopped)
	}
	return errors.Join(errs...)
}
