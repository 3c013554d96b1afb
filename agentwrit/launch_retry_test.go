package agentwrit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/fakeclock"
)

// launchStub answers app login, then refuses the first `refuse` launch-token
// requests with 403 forbidden and the given detail. The app waits on clock.
func launchStub(t *testing.T, clock *fakeclock.Clock, refuse int32, detail string) (*App, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/app/auth":
			writeJSON(w, 200, map[string]any{"access_token": "app-token", "expires_in": 1800, "token_type": "Bearer"})
		case "/v1/app/launch-tokens":
			if calls.Add(1) <= refuse {
				writeProblem(w, r, 403, "forbidden", detail)
				return
			}
			writeJSON(w, 201, map[string]any{"launch_token": "ab", "expires_at": "2026-11-26T20:00:31Z",
				"policy": map[string]any{"allowed_scope": []string{"read:analytics:bank"}, "max_ttl": 300}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	app, err := NewApp(hs.URL, "tc-000000000000", "secret", withClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return app, &calls
}

// TestLaunchTokenRetriesSpuriousAppNotFound: the real v2.0.0 broker answers
// concurrent launch-token requests with 403 "app not found" under SQLite
// lock contention; the client retries those, and only those.
func TestLaunchTokenRetriesSpuriousAppNotFound(t *testing.T) {
	req := LaunchTokenRequest{AgentName: "x", AllowedScope: []string{"read:analytics:bank"}}
	// create runs CreateLaunchToken, advancing the clock through each back-off.
	create := func(app *App, clock *fakeclock.Clock) (waits int, err error) {
		waits = driveClock(t, clock, time.Minute, func() {
			_, err = app.CreateLaunchToken(context.Background(), req)
		})
		return waits, err
	}
	clock := newFakeClock()
	app, calls := launchStub(t, clock, 2, "app not found")
	if waits, err := create(app, clock); err != nil || calls.Load() != 3 || waits != 2 {
		t.Fatalf("after 2 spurious refusals: %v, %d calls, %d waits", err, calls.Load(), waits)
	}
	clock = newFakeClock()
	app, calls = launchStub(t, clock, 10, "app not found")
	var ae *AuthorizationError
	if waits, err := create(app, clock); !errors.As(err, &ae) || calls.Load() != spuriousAppNotFoundRetries || waits != spuriousAppNotFoundRetries-1 {
		t.Fatalf("persistent refusal: %v, %d calls, %d waits", err, calls.Load(), waits)
	}
	clock = newFakeClock()
	app, calls = launchStub(t, clock, 10, "requested scopes exceed app ceiling; allowed: [read:analytics:* write:reports:*]")
	if waits, err := create(app, clock); !errors.As(err, &ae) || calls.Load() != 1 || waits != 0 {
		t.Fatalf("ceiling refusal must not be retried: %v, %d calls, %d waits", err, calls.Load(), waits)
	}
}

// inflightStub answers launch-token requests, recording how many were in
// the handler at once; hold runs inside the handler.
func inflightStub(t *testing.T, hold func(inflight int32), opts ...Option) (*App, *atomic.Int32) {
	t.Helper()
	var inflight, most atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/app/auth":
			writeJSON(w, 200, map[string]any{"access_token": "app-token", "expires_in": 1800, "token_type": "Bearer"})
		case "/v1/app/launch-tokens":
			n := inflight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			hold(n)
			inflight.Add(-1)
			writeJSON(w, 201, map[string]any{"launch_token": "ab", "expires_at": "2026-11-26T20:00:31Z",
				"policy": map[string]any{"allowed_scope": []string{"read:analytics:bank"}, "max_ttl": 300}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	app, err := NewApp(hs.URL, "tc-000000000000", "secret", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return app, &most
}

// By default an app's launch-token requests go one at a time (the real
// broker's lock errors); WithParallelLaunchTokens lets them overlap.
func TestLaunchTokensSerialUnlessParallel(t *testing.T) {
	req := LaunchTokenRequest{AgentName: "x", AllowedScope: []string{"read:analytics:bank"}}
	run := func(app *App, n int) {
		t.Helper()
		errs := make(chan error, n)
		for range n {
			go func() { _, err := app.CreateLaunchToken(context.Background(), req); errs <- err }()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	// Serial: each request lingers in the handler, giving any other a
	// chance to arrive meanwhile.
	app, most := inflightStub(t, func(int32) { time.Sleep(2 * time.Millisecond) })
	run(app, 8)
	if m := most.Load(); m != 1 {
		t.Fatalf("default: %d launch-token requests at once, want 1", m)
	}
	// Parallel: the first request waits for the second to arrive (bounded,
	// so that a regression fails instead of hanging).
	both := make(chan struct{})
	app, most = inflightStub(t, func(n int32) {
		if n == 2 {
			close(both)
			return
		}
		select {
		case <-both:
		case <-time.After(10 * time.Second):
		}
	}, WithParallelLaunchTokens())
	run(app, 2)
	if m := most.Load(); m != 2 {
		t.Fatalf("WithParallelLaunchTokens: %d launch-token requests at once, want 2", m)
	}
}
