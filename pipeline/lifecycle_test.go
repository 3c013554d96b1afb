package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of "no credential outlives the runner, and every state it shows is
// true": the broker's own audit trail is the judge of what is live.

func TestConcurrentProbesLeaveNothingLive(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.Probe(ctx, "hospital", "bank", OpRead)
			if err != nil || p.Store.Allowed || !p.Dedicated {
				t.Errorf("probe: %+v %v", p, err)
			}
		}()
	}
	wg.Wait()
	if live := e.liveOnBroker(t); len(live) != 0 {
		t.Fatalf("the broker shows live credentials after 4 concurrent probes: %q", live)
	}
	if st := r.Snapshot()[0]; st.Agent != nil || st.Stage != StageNone {
		t.Fatalf("a probe must not give the tenant an agent or a stage: %+v", st)
	}
	if res := r.Shutdown(ctx); !res.OK() || res.Released != 0 {
		t.Fatalf("nothing was left to release: %+v", res)
	}
}

func TestProbeKeepsTheActorsProgress(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	for range 3 { // create, extract, transform
		if err := r.Step(ctx, "hospital"); err != nil {
			t.Fatal(err)
		}
	}
	before := r.Snapshot()[0]
	p, err := r.Probe(ctx, "hospital", "bank", OpRead)
	if err != nil || p.Dedicated || p.Store.AgentID != before.Agent.SPIFFEID {
		t.Fatalf("a probe must use the actor's live agent: %+v %v", p, err)
	}
	// Released: the probe takes a dedicated agent and still keeps the stages.
	if err := r.Release(ctx, "hospital"); err != nil {
		t.Fatal(err)
	}
	p, err = r.Probe(ctx, "hospital", "bank", OpRead)
	if err != nil || !p.Dedicated || p.Store.AgentID == before.Agent.SPIFFEID {
		t.Fatalf("with no live agent, a dedicated probe agent: %+v %v", p, err)
	}
	after := r.Snapshot()[0]
	if after.Stage != StageTransform || after.Agent.SPIFFEID != before.Agent.SPIFFEID || after.Agent.State != AgentReleased {
		t.Fatalf("the probe changed the tenant: before %+v after %+v", before, after)
	}
	if live := e.liveOnBroker(t); len(live) != 0 {
		t.Fatalf("live after the probes: %q", live)
	}
}

func TestRefusedReleaseKeepsTheState(t *testing.T) {
	t.Run("revoked", func(t *testing.T) {
		e := newEnv(t)
		r := e.runner(t, nil)
		if err := r.Step(ctx, "hospital"); err != nil {
			t.Fatal(err)
		}
		if err := r.Revoke(ctx, "hospital", "token"); err != nil {
			t.Fatal(err)
		}
		err := r.Release(ctx, "hospital")
		if err == nil || !strings.Contains(err.Error(), "release refused by the broker") {
			t.Fatalf("release of a revoked token: %v", err)
		}
		if st := r.Snapshot()[0].Agent.State; st != AgentRevoked {
			t.Fatalf("state after a refused release = %v, want revoked", st)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e := newEnv(t)
		r := e.runnerWith(t, nil, func(c *Config) { c.TTL = 5 * time.Second })
		if err := r.Step(ctx, "bank"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(6 * time.Second)
		e.take()
		err := r.Release(ctx, "bank")
		if err == nil || !strings.Contains(err.Error(), "already expired") {
			t.Fatalf("release of an expired token: %v", err)
		}
		if st := r.Snapshot()[1].Agent.State; st != AgentExpired {
			t.Fatalf("state after a refused release = %v, want expired", st)
		}
		var said bool
		for _, ev := range e.take() {
			said = said || strings.Contains(ev.Message, "release refused by the broker")
			if ev.Kind == EventReleased {
				t.Fatalf("a refused release emitted %q", ev.Message)
			}
		}
		if !said {
			t.Fatal("the log must carry the broker's refusal")
		}
	})
}

func TestIsolationWithAnyCatalog(t *testing.T) {
	ts := DefaultTenants()
	t.Run("two", func(t *testing.T) {
		e := newEnv(t)
		r := e.runner(t, ts[:2])
		res, err := r.IsolationCheck(ctx)
		if err != nil || !res.Passed || res.NotApplicable || res.Note == "" {
			t.Fatalf("two tenants: %+v %v", res, err)
		}
		for _, c := range res.Checks {
			if c.Probe.Actor == c.Probe.Target && !c.Expect {
				t.Fatalf("a check expects a tenant to be refused its own data: %q", c.Name)
			}
		}
		if live := e.liveOnBroker(t); len(live) != 0 {
			t.Fatalf("the check's agents are live: %q", live)
		}
	})
	t.Run("one", func(t *testing.T) {
		e := newEnv(t)
		r := e.runner(t, ts[:1])
		res, err := r.IsolationCheck(ctx)
		if err != nil || !res.NotApplicable || len(res.Checks) != 1 || !res.Checks[0].Pass {
			t.Fatalf("one tenant: %+v %v", res, err)
		}
		if !strings.Contains(res.Note, "needs two tenants") {
			t.Fatalf("note %q", res.Note)
		}
	})
}

func TestStoreIsNotClosedWhileInUse(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	tr := r.tenants[0]
	s, err := r.acquireStore(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	r.retireStore(tr) // as RunAll does for large catalogs, while a probe reads
	g, err := r.createAgent(ctx, tr.t, "t", RoleProbe)
	if err != nil {
		t.Fatal(err)
	}
	defer r.releaseTransient(ctx, tr.t.ID, g)
	if _, _, err := s.Count(ctx, g.Token(), tr.t.ID); err != nil {
		t.Fatalf("a retired store in use was closed: %v", err)
	}
	r.releaseStore(tr)
	if tr.store != nil {
		t.Fatal("a retired store must close when its last user is done")
	}
	// Reopened on the next use.
	if _, err := r.Probe(ctx, tr.t.ID, tr.t.ID, OpRead); err != nil {
		t.Fatal(err)
	}
}

func TestDataErrorOnlyForUnusableFiles(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	tr := r.tenants[0]
	s, err := r.acquireStore(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.releaseStore(tr)
	g, err := r.createAgent(ctx, tr.t, "t", RoleProbe)
	if err != nil {
		t.Fatal(err)
	}
	defer r.releaseTransient(ctx, tr.t.ID, g)
	s.Close()
	_, _, err = s.Count(ctx, g.Token(), tr.t.ID)
	var de *DataError
	if err == nil || errors.As(err, &de) || strings.Contains(err.Error(), "regenerate") {
		t.Fatalf("a closed store is not a broken file: %v", err)
	}
}

func TestDelegatedTokenIsReleased(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	res, err := r.Delegate(ctx, "hospital", "bank", []string{"read:analytics:hospital"})
	if err != nil || !res.Allowed || !res.Released {
		t.Fatalf("delegate: %+v %v", res, err)
	}
	if live := e.liveOnBroker(t); len(live) != 0 {
		t.Fatalf("the delegation demo left live credentials: %q", live)
	}
	for _, s := range r.Snapshot() {
		if s.Agent != nil {
			t.Fatalf("the demo's dedicated agents must not become the tenants' agents: %+v", s)
		}
	}
}

// TestShutdownInterruptsRunAll stops a run of 40 tenants at random points;
// each time the broker's audit must show nothing live.
func TestShutdownInterruptsRunAll(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	for round := range 4 {
		at := 1 + rng.IntN(300)
		t.Run(fmt.Sprintf("after_event_%d", at), func(t *testing.T) {
			e := newEnv(t)
			var once sync.Once
			shut := make(chan ShutdownResult, 1)
			var r *Runner
			var seen int
			var mu sync.Mutex
			r = e.runnerWith(t, manyTenants(40, 20), func(c *Config) {
				c.Concurrency = 8
				c.Emit = func(Event) {
					mu.Lock()
					seen++
					n := seen
					mu.Unlock()
					if n == at {
						once.Do(func() {
							go func() {
								sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
								defer cancel()
								shut <- r.Shutdown(sctx)
							}()
						})
					}
				}
			})
			runErr := r.RunAll(ctx)
			once.Do(func() { // the run ended before event at: shut down now
				shut <- r.Shutdown(ctx)
			})
			res := <-shut
			if !res.OK() {
				t.Fatalf("round %d (seed %d): shutdown left credentials: %s", round, seed, res.Summary())
			}
			if live := e.liveOnBroker(t); len(live) != 0 {
				t.Fatalf("round %d (seed %d, run error %v): the broker shows %d live: %q", round, seed, runErr, len(live), live)
			}
			if _, err := r.createAgent(ctx, r.tenants[0].t, "late", RoleProbe); !errors.Is(err, ErrShuttingDown) {
				t.Fatalf("a registration after shutdown: %v", err)
			}
		})
	}
}

// gate holds every registration until it is opened, and says when one
// arrives.
type gate struct {
	arrived chan struct{}
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{arrived: make(chan struct{}, 16), open: make(chan struct{})} }

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/register" || strings.HasSuffix(req.URL.Path, "/register") {
			g.arrived <- struct{}{}
			<-g.open
		}
		h.ServeHTTP(w, req)
	})
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// TestShutdownWaitsForRegistrationInFlight is the leak of an interrupted
// run: the registration reaches the broker, the caller is cancelled, and the
// broker completes it anyway. The runner must wait for it and release it.
func TestShutdownWaitsForRegistrationInFlight(t *testing.T) {
	g := newGate()
	e := newEnvWrapped(t, g.wrap)
	t.Cleanup(g.release)
	r := e.runner(t, nil)
	stepErr := make(chan error, 1)
	go func() { stepErr <- r.Step(ctx, "hospital") }()
	<-g.arrived // the registration is at the broker
	shut := make(chan ShutdownResult, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- r.Shutdown(sctx)
	}()
	// The shutdown has cancelled the work; the registration is still held
	// at the broker. Now the broker answers: the registration completes.
	<-r.life.Done()
	g.release()
	if err := <-stepErr; err == nil {
		t.Fatal("the step must report its cancellation")
	}
	res := <-shut
	if !res.OK() || res.Released != 1 {
		t.Fatalf("shutdown: %+v (%s)", res, res.Summary())
	}
	if live := e.liveOnBroker(t); len(live) != 0 {
		t.Fatalf("the broker shows live: %q", live)
	}
}

// TestShutdownIsBoundedOnAFrozenBroker: a registration that never answers
// cannot hold the way out; the result says what may be live.
func TestShutdownIsBoundedOnAFrozenBroker(t *testing.T) {
	g := newGate()
	e := newEnvWrapped(t, g.wrap)
	t.Cleanup(g.release)
	r := e.runner(t, nil)
	go r.Step(ctx, "hospital")
	<-g.arrived
	sctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res := r.Shutdown(sctx)
	if res.OK() || res.Unsettled != 1 {
		t.Fatalf("a frozen registration must be reported: %+v", res)
	}
	if !strings.Contains(res.Summary(), "may have left an agent live") {
		t.Fatalf("summary %q", res.Summary())
	}
}

func TestShutdownReleasesEveryRole(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	for _, id := range []string{"hospital", "bank"} {
		if err := r.Step(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// A transient agent whose release failed stays in the ledger.
	g, err := r.createAgent(ctx, r.tenants[2].t, "matrix", RoleMatrix)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.LiveCredentials()); n != 3 {
		t.Fatalf("live credentials = %d, want 3", n)
	}
	res := r.Shutdown(ctx)
	if !res.OK() || res.Released != 3 {
		t.Fatalf("shutdown: %+v", res)
	}
	if !g.Released() {
		t.Fatal("the matrix agent was not released")
	}
	if live := e.liveOnBroker(t); len(live) != 0 {
		t.Fatalf("live: %q", live)
	}
	// Shutdown is idempotent.
	if again := r.Shutdown(ctx); again.Released != 3 {
		t.Fatalf("second Shutdown: %+v", again)
	}
}
