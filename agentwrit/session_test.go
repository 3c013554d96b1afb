package agentwrit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loginStub is a broker stub for session tests: /v1/app/auth and
// /v1/admin/auth answer with login(n) for the n-th login (1-based), and
// /v1/app/launch-tokens and /v1/revoke answer with use(token).
type loginStub struct {
	logins atomic.Int32
	uses   atomic.Int32
	login  func(w http.ResponseWriter, r *http.Request, n int)
	use    func(w http.ResponseWriter, r *http.Request, token string)
}

func (s *loginStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // read it all, so that a client going away cancels r.Context()
	r.Body = io.NopCloser(bytes.NewReader(body))
	switch r.URL.Path {
	case "/v1/app/auth", "/v1/admin/auth":
		s.login(w, r, int(s.logins.Add(1)))
	case "/v1/app/launch-tokens", "/v1/revoke":
		s.uses.Add(1)
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.use == nil {
			writeJSON(w, 201, map[string]any{"launch_token": strings.Repeat("ab", 32), "expires_at": "2026-11-26T20:00:31Z",
				"policy": map[string]any{"allowed_scope": []string{"read:analytics:x"}, "max_ttl": 300}})
			return
		}
		s.use(w, r, tok)
	default:
		http.NotFound(w, r)
	}
}

// okLogin answers every login with token "tok-<n>" valid for ttl seconds.
func okLogin(ttl int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "expires_in": ttl, "token_type": "Bearer"})
	}
}

func rateLimited(w http.ResponseWriter, r *http.Request, retryAfter string) {
	w.Header().Set("Retry-After", retryAfter)
	writeProblem(w, r, 429, CodeRateLimited, "rate limit exceeded, try again later")
}

func newTestApp(t *testing.T, h http.Handler, opts ...Option) *App {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a, err := NewApp(srv.URL, "tc-cad3ae1a6290", "s3cr3t-s3cr3t-s3cr3t", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func launch(ctx context.Context, a *App) error {
	_, err := a.CreateLaunchToken(ctx, LaunchTokenRequest{AgentName: "x", AllowedScope: []string{"read:analytics:x"}})
	return err
}

func TestLoginRateLimitWaitsAndRetries(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			rateLimited(w, r, "1")
			return
		}
		okLogin(1800)(w, r, n)
	}}
	n := newNotes()
	clock := newFakeClock()
	a := newTestApp(t, stub, WithNotify(n.add), withClock(clock))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- launch(ctx, a) }()
	// The client waits on its clock for Retry-After (1 s), and not a
	// moment less: 999 ms on, it is still waiting and has not retried.
	if err := clock.BlockUntilWaiters(ctx, 1); err != nil {
		t.Fatalf("the client never waited: %v", err)
	}
	clock.Advance(999 * time.Millisecond)
	if w, got := clock.Waiters(), stub.logins.Load(); w != 1 || got != 1 {
		t.Fatalf("999 ms into a 1 s Retry-After: %d waiting, %d logins; want 1 and 1", w, got)
	}
	clock.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := stub.logins.Load(); got != 2 {
		t.Errorf("logins = %d, want 2", got)
	}
	if got := n.all(); len(got) != 1 || got[0] != "broker rate-limited app login for tc-cad3ae1a6290; retrying in 1s" {
		t.Errorf("notify = %q", got)
	}
}

func TestLoginRateLimitDeadlineTooShort(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) { rateLimited(w, r, "60") }}
	n := newNotes()
	a := newTestApp(t, stub, WithNotify(n.add))
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := a.Authenticate(ctx)
		cancel()
		var rl *RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter != time.Minute {
			t.Fatalf("call %d: got %v, want a RateLimitError", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("call %d took %v; it should give up at once", i, d)
		}
		if !strings.HasPrefix(err.Error(), "agentwrit: app login for tc-cad3ae1a6290: 429 rate_limited") {
			t.Errorf("message %q", err)
		}
	}
	// The second call honoured the cool-down instead of asking again.
	if got := stub.logins.Load(); got != 1 {
		t.Errorf("logins = %d, want 1", got)
	}
	if got := n.all(); len(got) != 2 || !strings.Contains(got[0], "not waiting 60s because the caller's deadline is sooner") {
		t.Errorf("notify = %q", got)
	}
}

func TestLoginRateLimitCancelledWhileWaiting(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) { rateLimited(w, r, "60") }}
	n := newNotes()
	a := newTestApp(t, stub, WithNotify(n.add))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Authenticate(ctx) }()
	select {
	case msg := <-n.ch:
		if msg != "broker rate-limited app login for tc-cad3ae1a6290; retrying in 60s" {
			t.Errorf("notify = %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notify")
	}
	cancel()
	select {
	case err := <-done:
		var rl *RateLimitError
		if !errors.As(err, &rl) {
			t.Errorf("got %v, want the RateLimitError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end the wait")
	}
}

func TestLoginRateLimitGivesUpAfterRetries(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) { rateLimited(w, r, "1") }}
	n := newNotes()
	clock := newFakeClock()
	a := newTestApp(t, stub, WithNotify(n.add), withClock(clock))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	waits := driveClock(t, clock, time.Second, func() { err = a.Authenticate(ctx) })
	var rl *RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("got %v", err)
	}
	if got := stub.logins.Load(); got != 1+maxLoginRetries {
		t.Errorf("logins = %d, want %d", got, 1+maxLoginRetries)
	}
	if got := len(n.all()); got != maxLoginRetries {
		t.Errorf("%d notifications, want %d", got, maxLoginRetries)
	}
	if waits != maxLoginRetries {
		t.Errorf("waited %d times on the clock, want %d", waits, maxLoginRetries)
	}
}

func TestSingleFlightLogin(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		time.Sleep(50 * time.Millisecond) // a slow login, so that callers pile up
		okLogin(1800)(w, r, n)
	}}
	a := newTestApp(t, stub)
	const N = 50
	var wg sync.WaitGroup
	errs := make(chan error, N)
	for range N {
		wg.Go(func() { errs <- launch(context.Background(), a) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := stub.logins.Load(); got != 1 {
		t.Errorf("%d callers caused %d logins, want 1", N, got)
	}
	if got := stub.uses.Load(); got != N {
		t.Errorf("launch calls = %d", got)
	}
}

func TestSingleFlightAdminLogin(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		time.Sleep(50 * time.Millisecond)
		okLogin(300)(w, r, n)
	}, use: func(w http.ResponseWriter, r *http.Request, tok string) {
		writeJSON(w, 200, map[string]any{"revoked": true, "level": "token", "target": "x", "count": 1})
	}}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	ad, _ := NewAdmin(srv.URL, "admin-secret")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := ad.Revoke(context.Background(), RevokeToken, "x"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := stub.logins.Load(); got != 1 {
		t.Errorf("logins = %d, want 1", got)
	}
}

// A leader whose own context ends does not take the waiting callers down
// with it: one of them logs in instead.
func TestSingleFlightLeaderCancelled(t *testing.T) {
	firstLogin := make(chan struct{})
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			close(firstLogin)
			<-r.Context().Done() // hangs until the leader gives up
			return
		}
		okLogin(1800)(w, r, n)
	}}
	a := newTestApp(t, stub)
	waiting := make(chan struct{}, 1)
	a.sess.testHookWait = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() { leaderErr <- a.Authenticate(leaderCtx) }()
	<-firstLogin
	followerErr := make(chan error, 1)
	go func() { followerErr <- a.Authenticate(context.Background()) }()
	<-waiting
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v", err)
	}
	if err := <-followerErr; err != nil {
		t.Errorf("follower: %v", err)
	}
	if got := stub.logins.Load(); got != 2 {
		t.Errorf("logins = %d, want 2", got)
	}
}

// A caller waiting for someone else's login gives up at once with the rate
// limit error when the leader hits a 429 it cannot wait out in time.
func TestFollowerDeadlineShorterThanCoolDown(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		close(arrived)
		<-release
		rateLimited(w, r, "60")
	}}
	a := newTestApp(t, stub)
	waiting := make(chan struct{}, 4)
	a.sess.testHookWait = func() { waiting <- struct{}{} }
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	defer cancelLeader()
	go func() { _ = a.Authenticate(leaderCtx) }()
	<-arrived // the leader's login is in flight
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	followerErr := make(chan error, 1)
	go func() { followerErr <- a.Authenticate(ctx) }()
	<-waiting
	close(release)
	select {
	case err := <-followerErr:
		var rl *RateLimitError
		if !errors.As(err, &rl) {
			t.Errorf("follower: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follower kept waiting")
	}
}

func TestSessionReauthBuffer(t *testing.T) {
	clock := newFakeClock()
	stub := &loginStub{login: okLogin(300)}
	a := newTestApp(t, stub, withClock(clock))
	ctx := context.Background()
	step := func(advance time.Duration, wantLogins int32) {
		t.Helper()
		clock.Advance(advance)
		if err := launch(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got := stub.logins.Load(); got != wantLogins {
			t.Errorf("after %v: logins = %d, want %d", advance, got, wantLogins)
		}
	}
	step(0, 1)
	step(239*time.Second, 1) // 61 s left: reuse
	step(time.Second, 2)     // 60 s left: not "more than 60": log in again
	step(100*time.Second, 2)
	step(140*time.Second, 3)
}

func TestSessionShortTTLAlwaysRelogs(t *testing.T) {
	clock := newFakeClock()
	stub := &loginStub{login: okLogin(60)}
	a := newTestApp(t, stub, withClock(clock))
	for range 3 {
		if err := a.Authenticate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := stub.logins.Load(); got != 3 {
		t.Errorf("logins = %d, want 3", got)
	}
}

func TestReauthOnceOn401(t *testing.T) {
	stub := &loginStub{login: okLogin(1800), use: func(w http.ResponseWriter, r *http.Request, tok string) {
		if tok == "tok-1" { // the broker forgot the first session
			writeProblem(w, r, 401, CodeUnauthorized, "token verification failed")
			return
		}
		writeJSON(w, 201, map[string]any{"launch_token": strings.Repeat("cd", 32)})
	}}
	a := newTestApp(t, stub)
	if err := launch(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if l, u := stub.logins.Load(), stub.uses.Load(); l != 2 || u != 2 {
		t.Errorf("logins %d, calls %d; want 2, 2", l, u)
	}
	// Later calls reuse the new session.
	if err := launch(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if l := stub.logins.Load(); l != 2 {
		t.Errorf("logins %d, want 2", l)
	}
}

func TestReauthOn401OnlyOnce(t *testing.T) {
	stub := &loginStub{login: okLogin(1800), use: func(w http.ResponseWriter, r *http.Request, tok string) {
		writeProblem(w, r, 401, CodeUnauthorized, "token verification failed")
	}}
	a := newTestApp(t, stub)
	err := launch(context.Background(), a)
	var ae *AuthenticationError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v", err)
	}
	if l, u := stub.logins.Load(), stub.uses.Load(); l != 2 || u != 2 {
		t.Errorf("logins %d, calls %d; want 2, 2", l, u)
	}
}

func TestConcurrent401sShareOneRelogin(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		time.Sleep(20 * time.Millisecond)
		okLogin(1800)(w, r, n)
	}, use: func(w http.ResponseWriter, r *http.Request, tok string) {
		if tok == "tok-1" {
			time.Sleep(20 * time.Millisecond)
			writeProblem(w, r, 401, CodeUnauthorized, "token verification failed")
			return
		}
		writeJSON(w, 201, map[string]any{"launch_token": strings.Repeat("cd", 32)})
	}}
	a := newTestApp(t, stub)
	if err := a.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := launch(context.Background(), a); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if l := stub.logins.Load(); l != 2 {
		t.Errorf("logins %d, want 2", l)
	}
}

func TestLoginFailureIsNotCached(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		var body struct {
			ClientSecret string `json:"client_secret"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if n == 1 {
			writeProblem(w, r, 401, CodeUnauthorized, "Authentication failed")
			return
		}
		okLogin(1800)(w, r, n)
	}}
	a := newTestApp(t, stub)
	err := a.Authenticate(context.Background())
	var ae *AuthenticationError
	if !errors.As(err, &ae) || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("got %v", err)
	}
	if err := a.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A caller whose deadline passes while another caller's login is in flight
// gets a timeout TransportError, not a hang.
func TestFollowerTimesOutWaiting(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		close(arrived)
		<-release
		okLogin(1800)(w, r, n)
	}}
	a := newTestApp(t, stub)
	leaderErr := make(chan error, 1)
	go func() { leaderErr <- a.Authenticate(context.Background()) }()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := a.Authenticate(ctx)
	var te *TransportError
	if !errors.As(err, &te) || !te.Timeout() || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("follower: %v", err)
	}
	close(release)
	if err := <-leaderErr; err != nil {
		t.Errorf("leader: %v", err)
	}
}

func TestLoginErrorContext(t *testing.T) {
	stub := &loginStub{login: func(w http.ResponseWriter, r *http.Request, n int) {
		writeProblem(w, r, 401, CodeUnauthorized, "Authentication failed")
	}}
	a := newTestApp(t, stub)
	err := launch(context.Background(), a)
	want := "agentwrit: create launch token: app login for tc-cad3ae1a6290: 401 unauthorized: Authentication failed (request 0123456789abcdef)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	var ae *AuthenticationError
	if !errors.As(err, &ae) || stub.uses.Load() != 0 {
		t.Errorf("typed %v, uses %d", err, stub.uses.Load())
	}
}
