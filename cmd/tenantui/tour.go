package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/tour"
	"github.com/tenantui/tenantui/ui"
)

// cmdTour runs the guided tour: the console with a lesson pane. With
// --solve it checks the lessons instead: each lesson's solution is replayed
// against the real runner and broker, and its expectations checked.
func cmdTour(in *interrupts, args []string, stdout, stderr io.Writer) (retErr error) {
	ctx := in.ctx
	var dir string
	var solve bool
	c, tenants, err := parseCommon("tour", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "lessons", "", "directory of lesson files (*.md, in lexical order); default: the built-in lessons")
		fs.BoolVar(&solve, "solve", false, "replay each lesson's solution and check its expectations; exit 1 if any fails")
	})
	if err != nil {
		return err
	}
	if c.autoRenew {
		return usageErr("--auto-renew does not apply to the tour: its lessons renew agents themselves")
	}
	lessons, err := loadLessons(dir, tenants)
	if err != nil {
		return err
	}
	if solve {
		return solveTour(ctx, c, tenants, lessons, stdout, stderr)
	}
	if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
		return usageErr("not a terminal: the tour needs an interactive TTY; `tenantui tour --solve` checks lessons headless")
	}
	sess, elog, finish, err := c.connectLogged(ctx, func(msg string) { fmt.Fprintln(stderr, "tenantui: "+msg) })
	if err != nil {
		return err
	}
	defer finish(&retErr) // after the way out has emitted its events
	// As the console: the program gets signals as messages.
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	events := make(chan pipeline.Event, 4096)
	tc, err := newTourControl(uctx, c, tenants, sess, nil, events)
	if err != nil {
		return usageErr("%v", err)
	}
	defer tc.Close()
	tc.log = elog
	opts := tc.options(sess, lessons)
	opts.Events, opts.QueryBackground = events, true
	return runConsole(in, uctx, "tour", ui.New(opts), tc, stdout, stderr)
}

// loadLessons loads dir's lessons (the built-in ones when dir is empty) and
// checks that they name only tenants of the catalog. A bad lesson is a usage
// error naming its file and line.
func loadLessons(dir string, tenants []pipeline.Tenant) ([]tour.Lesson, error) {
	var ls []tour.Lesson
	var err error
	if dir == "" {
		ls, err = tour.Builtin()
	} else {
		ls, err = tour.LoadDir(dir)
	}
	if err != nil {
		return nil, usageErr("lessons: %s", oneLine(err.Error()))
	}
	ids := make([]string, len(tenants))
	for i, t := range tenants {
		ids[i] = t.ID
	}
	for _, l := range ls {
		if err := l.CheckTenants(ids); err != nil {
			if dir == "" {
				return nil, usageErr("lessons: %s; the built-in lessons need the sample's tenants hospital, bank and retail (drop --tenants, or write lessons for your catalog: docs/lessons.md)", err)
			}
			return nil, usageErr("lessons: %s", err)
		}
	}
	return ls, nil
}

// tourControl is the tour's pipeline: a runner that a lesson may replace
// with a fresh one (Reset). It forwards the console's calls to the current
// runner; a call holds the runner until it returns, so a reset waits for it.
type tourControl struct {
	// emitted counts the events every runner emitted, so that the solver
	// knows when the console has seen them all.
	emitted atomic.Int64
	ctx     context.Context
	mk      func(ttl time.Duration) (*pipeline.Runner, error)
	mu      sync.RWMutex
	r       *pipeline.Runner
	ttl     time.Duration
	tenants []pipeline.Tenant
	closed  bool // shut down: no fresh runner any more
	// log receives every event of every runner (--log); set before use.
	log *pipeline.EventLog
}

var (
	_ ui.Controller  = (*tourControl)(nil)
	_ ui.TourControl = (*tourControl)(nil)
)

func newTourControl(ctx context.Context, c common, tenants []pipeline.Tenant, sess *session, now func() time.Time, events chan pipeline.Event) (*tourControl, error) {
	t := &tourControl{ctx: ctx, ttl: c.ttl, tenants: tenants}
	t.mk = func(ttl time.Duration) (*pipeline.Runner, error) {
		return pipeline.New(pipeline.Config{
			App: sess.App, Admin: sess.Admin, NoAdminWhy: sess.NoAdminWhy, Tenants: tenants,
			DataDir: c.data, ReportsDir: c.reports, TTL: ttl, Seed: c.seed, Scale: c.scale,
			Concurrency: c.concurrencyFor(sess), Now: now,
			Emit: func(ev pipeline.Event) {
				if t.log != nil {
					t.log.Write(ev)
				}
				t.emitted.Add(1)
				select {
				case events <- ev:
				case <-ctx.Done():
				}
			},
		})
	}
	var err error
	if t.r, err = t.mk(c.ttl); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tourControl) options(sess *session, lessons []tour.Lesson) ui.Options {
	return ui.Options{
		Control: t, Tenants: t.tenants, TTL: t.ttl,
		Broker: ui.BrokerInfo{URL: sess.URL, Mode: sess.Mode, Version: sess.Version, Healthy: sess.Healthy,
			ClientID: shortID(sess.ClientID)},
		Tour: &ui.Tour{Lessons: lessons, Control: t},
	}
}

// Reset shuts the current runner down (every credential it obtained
// released), closes it and starts a fresh one whose agents live ttl.
func (t *tourControl) Reset(ctx context.Context, ttl time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return pipeline.ErrShuttingDown
	}
	if res := t.r.Shutdown(ctx); !res.OK() {
		return fmt.Errorf("release before a fresh pipeline: %s", res.Summary())
	}
	r, err := t.mk(ttl)
	if err != nil {
		return err
	}
	t.r.Close()
	t.r, t.ttl = r, ttl
	return nil
}

// Close closes the current runner's stores.
func (t *tourControl) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.r.Close()
}

// with runs f on the current runner, holding it until f returns.
func with[T any](t *tourControl, f func(r *pipeline.Runner) T) T {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return f(t.r)
}

type res[T any] struct {
	v   T
	err error
}

func with2[T any](t *tourControl, f func(r *pipeline.Runner) (T, error)) (T, error) {
	x := with(t, func(r *pipeline.Runner) res[T] { v, err := f(r); return res[T]{v, err} })
	return x.v, x.err
}

// The ui.Controller methods, forwarded to the current runner.

func (t *tourControl) Snapshot() []pipeline.TenantState {
	return with(t, (*pipeline.Runner).Snapshot)
}
func (t *tourControl) Step(ctx context.Context, tenant string) error {
	return with(t, func(r *pipeline.Runner) error { return r.Step(ctx, tenant) })
}
func (t *tourControl) RunAll(ctx context.Context) error {
	return with(t, func(r *pipeline.Runner) error { return r.RunAll(ctx) })
}
func (t *tourControl) Probe(ctx context.Context, actor, target string, op pipeline.Op) (pipeline.ProbeResult, error) {
	return with2(t, func(r *pipeline.Runner) (pipeline.ProbeResult, error) { return r.Probe(ctx, actor, target, op) })
}
func (t *tourControl) ProbeReleased(ctx context.Context, actor, target string, op pipeline.Op) (pipeline.ProbeResult, error) {
	return with2(t, func(r *pipeline.Runner) (pipeline.ProbeResult, error) {
		return r.ProbeReleased(ctx, actor, target, op)
	})
}
func (t *tourControl) IsolationCheck(ctx context.Context) (pipeline.IsolationResult, error) {
	return with2(t, func(r *pipeline.Runner) (pipeline.IsolationResult, error) { return r.IsolationCheck(ctx) })
}
func (t *tourControl) Matrix(ctx context.Context) (pipeline.MatrixResult, error) {
	return with2(t, func(r *pipeline.Runner) (pipeline.MatrixResult, error) { return r.Matrix(ctx) })
}
func (t *tourControl) Renew(ctx context.Context, tenant string) error {
	return with(t, func(r *pipeline.Runner) error { return r.Renew(ctx, tenant) })
}
func (t *tourControl) Release(ctx context.Context, tenant string) error {
	return with(t, func(r *pipeline.Runner) error { return r.Release(ctx, tenant) })
}
func (t *tourControl) ReleaseAll(ctx context.Context) (int, error) {
	return with2(t, func(r *pipeline.Runner) (int, error) { return r.ReleaseAll(ctx) })
}

// Shutdown is the way out: the current runner shuts down and no lesson may
// start a fresh one after it.
func (t *tourControl) Shutdown(ctx context.Context) pipeline.ShutdownResult {
	t.mu.Lock()
	t.closed = true
	r := t.r
	t.mu.Unlock()
	return r.Shutdown(ctx)
}
func (t *tourControl) LiveCredentials() []pipeline.LiveCredential {
	return with(t, (*pipeline.Runner).LiveCredentials)
}
func (t *tourControl) Health(ctx context.Context) (pipeline.Health, error) {
	return with2(t, func(r *pipeline.Runner) (pipeline.Health, error) { return r.Health(ctx) })
}
func (t *tourControl) LiveAgents() int { return with(t, (*pipeline.Runner).LiveAgents) }
func (t *tourControl) Revoke(ctx context.Context, tenant, level string) error {
	return with(t, func(r *pipeline.Runner) error { return r.Revoke(ctx, tenant, level) })
}
func (t *tourControl) Delegate(ctx context.Context, from, to string, scope []string) (pipeline.DelegationResult, error) {
	return with2(t, func(r *pipeline.Runner) (pipeline.DelegationResult, error) { return r.Delegate(ctx, from, to, scope) })
}
func (t *tourControl) CreateOverCeiling(ctx context.Context, tenant string) (pipeline.Access, error) {
	return with2(t, func(r *pipeline.Runner) (pipeline.Access, error) { return r.CreateOverCeiling(ctx, tenant) })
}
func (t *tourControl) Audit(ctx context.Context, f pipeline.AuditFilter) (pipeline.AuditResult, error) {
	return with2(t, func(r *pipeline.Runner) (pipeline.AuditResult, error) { return r.Audit(ctx, f) })
}
func (t *tourControl) AdminAvailable() (bool, string) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.r.AdminAvailable()
}
