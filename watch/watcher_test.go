package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
	"github.com/tenantui/tenantui/internal/fakeclock"
)

// flakyBroker serves a trail and fails when told to.
type flakyBroker struct {
	sliceSource
	fail    error
	revoked []string
}

func (b *flakyBroker) Health(context.Context) (*agentwrit.Health, error) {
	if b.fail != nil {
		return nil, b.fail
	}
	return &agentwrit.Health{Status: "ok", Version: "2.0.0", AuditEventsCount: len(b.events)}, nil
}

func (b *flakyBroker) AuditEvents(ctx context.Context, q agentwrit.AuditQuery) (*agentwrit.AuditPage, error) {
	if b.fail != nil {
		return nil, b.fail
	}
	return b.sliceSource.AuditEvents(ctx, q)
}

func (b *flakyBroker) Revoke(_ context.Context, level agentwrit.RevokeLevel, target string) (*agentwrit.RevokeResult, error) {
	if b.fail != nil {
		return nil, b.fail
	}
	b.revoked = append(b.revoked, string(level)+" "+target)
	return &agentwrit.RevokeResult{Revoked: true, Level: level, Target: target, Count: 1}, nil
}

// TestWatcherFaultsAndResume: an unreachable broker, a 429 and a rejected
// admin login each show as a live fault with the right wait; when the broker
// answers again the fault clears and the events missed meanwhile arrive.
func TestWatcherFaultsAndResume(t *testing.T) {
	evs := loadTrail(t, realTrail)
	fb := &flakyBroker{sliceSource: sliceSource{events: evs[:20]}}
	clk := fakeclock.New(lastEventTime(t, evs))
	w := New(Config{Broker: fb, BrokerURL: "http://127.0.0.1:1", Interval: time.Second, Now: clk.Now})
	ctx := context.Background()

	u, wait := w.Poll(ctx)
	if u.Status.Fault != nil || u.Status.Events != 20 || wait != time.Second || !u.Status.Healthy {
		t.Fatalf("first poll: %+v wait %v", u.Status, wait)
	}
	if u.Status.Chain != "chain verified, 20 events" {
		t.Errorf("chain %q", u.Status.Chain)
	}
	lastPoll := u.Status.LastPoll

	faults := []struct {
		err  error
		kind string
		wait time.Duration
	}{
		{&agentwrit.TransportError{Op: "GET /v1/health", URL: "http://127.0.0.1:1", Err: syscall.ECONNREFUSED}, FaultUnreachable, time.Second},
		{&agentwrit.TransportError{Op: "GET /v1/health", URL: "http://127.0.0.1:1", Err: syscall.ECONNREFUSED}, FaultUnreachable, 2 * time.Second},
		{&agentwrit.RateLimitError{APIError: &agentwrit.APIError{Status: 429, Code: agentwrit.CodeRateLimited, Detail: "rate limit exceeded, try again later", RetryAfter: 60 * time.Second}}, FaultRateLimited, 60 * time.Second},
		{&agentwrit.AuthenticationError{APIError: &agentwrit.APIError{Status: 401, Code: agentwrit.CodeUnauthorized, Detail: "invalid credentials"}}, FaultAdminLogin, 10 * time.Second},
		{&agentwrit.TransportError{Op: "GET /v1/health", URL: "http://127.0.0.1:1", Err: syscall.ECONNREFUSED}, FaultUnreachable, 5 * time.Second}, // doubling, capped
	}
	start := clk.Now()
	for _, f := range faults {
		fb.fail = f.err
		clk.Advance(time.Second)
		u, wait = w.Poll(ctx)
		if u.Status.Fault == nil || u.Status.Fault.Kind != f.kind || wait != f.wait {
			t.Fatalf("%T: fault %+v wait %v, want %s and %v", f.err, u.Status.Fault, wait, f.kind, f.wait)
		}
		if !u.Status.Fault.Since.Equal(start.Add(time.Second)) {
			t.Errorf("%s: fault since %v, want the first failure's time", f.kind, u.Status.Fault.Since)
		}
		if !u.Status.LastPoll.Equal(lastPoll) || u.Status.Events != 20 {
			t.Errorf("%s: a failed poll moved last poll or events: %+v", f.kind, u.Status)
		}
	}
	if m := u.Status.Fault.Message; m != "broker unreachable: connection refused" {
		t.Errorf("message %q: want the cause, without the URL the header shows", m)
	}

	fb.fail = nil
	fb.events = evs
	clk.Advance(time.Second)
	u, _ = w.Poll(ctx)
	if u.Status.Fault != nil || u.Status.Events != len(evs) || !u.Status.LastPoll.After(lastPoll) {
		t.Fatalf("after recovery: %+v", u.Status)
	}
	if len(u.Agents) == 0 || len(u.Changes) == 0 {
		t.Errorf("after recovery: %d agents, %d changes", len(u.Agents), len(u.Changes))
	}
}

// TestWatcherTrailRestart: an in-memory broker restarted has a new, shorter
// trail; the watcher starts over on it and tells the view to forget the old
// agents.
func TestWatcherTrailRestart(t *testing.T) {
	evs := loadTrail(t, realTrail)
	fb := &flakyBroker{sliceSource: sliceSource{events: evs}}
	clk := fakeclock.New(lastEventTime(t, evs))
	w := New(Config{Broker: fb, Now: clk.Now})
	ctx := context.Background()
	if u, _ := w.Poll(ctx); u.Status.Events != len(evs) || u.Reset {
		t.Fatalf("first poll: %+v", u.Status)
	}
	fb.events = evs[:7] // same genesis, new (shorter) trail
	clk.Advance(time.Second)
	u, _ := w.Poll(ctx)
	if !u.Reset || u.Status.Fault != nil || u.Status.Events != 7 || u.Status.Agents != 1 || !u.Status.Restarted.Equal(clk.Now()) {
		t.Fatalf("after restart: reset %v %+v", u.Reset, u.Status)
	}
	if u.Status.ChainBreak != nil || u.Status.Chain != "chain verified, 7 events" {
		t.Errorf("chain %q", u.Status.Chain)
	}
	if u, _ = w.Poll(ctx); u.Reset {
		t.Error("reset twice")
	}
}

// TestWatcherRunAndRevoke runs the loop on the embedded broker: the
// scenario's stories arrive, a revocation through the watcher reaches the
// agent only once its token_revoked event comes through the trail, and
// cancelling the context ends Run with nil.
func TestWatcherRunAndRevoke(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	srv, err := broker.New(broker.Config{AdminSecret: "s3cret-for-tests", Now: clk.Now, DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	admin, err := agentwrit.NewAdmin(hs.URL, "s3cret-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	scenario(t, ctx, hs.URL, admin)
	w := New(Config{Broker: AdminBroker{admin}, Now: clk.Now, Wait: func(ctx context.Context, _ time.Duration) error {
		select { // poll again almost at once, or stop
		case <-time.After(time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	out := make(chan Update)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, out) }()

	agents := map[string]Agent{}
	next := func() Update {
		t.Helper()
		select {
		case u := <-out:
			for _, a := range u.Agents {
				agents[a.ID] = a
			}
			return u
		case <-time.After(10 * time.Second):
			t.Fatal("no update")
		}
		return Update{}
	}
	for u := next(); u.Status.CatchingUp || u.Status.Events == 0; u = next() {
	}
	var release Agent
	for _, a := range agents {
		if a.Task == "deleg-leaf" {
			release = a
		}
	}
	if release.ID == "" || release.StateAt(clk.Now()) != StateActive {
		t.Fatalf("leaf agent missing or not active: %+v", release)
	}
	if err := w.Revoke(ctx, "agent", RevokeTarget(release, "agent")); err != nil {
		t.Fatal(err)
	}
	for {
		u := next()
		if a := agents[release.ID]; a.Revoked != nil {
			if a.Revoked.Level != "agent" || a.StateAt(clk.Now()) != StateRevoked {
				t.Fatalf("revoked: %+v", a.Revoked)
			}
			found := false
			for _, c := range u.Changes {
				found = found || (c.Agent == release.ID && c.Kind == "revoked")
			}
			if !found {
				t.Errorf("no revoked change in %+v", u.Changes)
			}
			break
		}
	}
	cancel()
	for {
		select {
		case <-out:
			continue
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			return
		}
	}
}

func TestDescribe(t *testing.T) {
	api := &agentwrit.AuthenticationError{APIError: &agentwrit.APIError{Status: 401, Code: agentwrit.CodeUnauthorized, Detail: "invalid credentials"}}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("agentwrit: audit events: admin login: %w", api), "401 unauthorized: invalid credentials"},
		{errors.New("agentwrit: audit events: agentwrit: decode: bad JSON"), "bad JSON"},
		{errors.New("watch: the broker's trail has 3 events"), "the broker's trail has 3 events"},
	} {
		if got := describe(c.err); got != c.want {
			t.Errorf("describe(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
