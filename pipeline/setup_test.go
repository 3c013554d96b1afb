package pipeline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/fakeclock"
	"github.com/tenantui/tenantui/internal/liveaudit"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
)

// newClock is a settable clock shared by the broker and the runner, so
// expiry can be tested without sleeping.
func newClock() *fakeclock.Clock { return fakeclock.New(time.Now().Truncate(time.Second)) }

// env is an embedded broker, an app and an admin session talking to it over
// loopback HTTP, and a runner on temporary directories.
type env struct {
	srv     *broker.Server
	http    *httptest.Server
	app     *agentwrit.App
	admin   *agentwrit.Admin
	clock   *fakeclock.Clock
	data    string
	reports string
	mu      sync.Mutex
	events  []Event
}

const testAdminSecret = "test-admin-secret-0123456789"

func newEnv(t testing.TB) *env { t.Helper(); return newEnvWrapped(t, nil) }

// newEnvWrapped is newEnv with the broker's handler wrapped (nil: as is),
// to slow or freeze some requests.
func newEnvWrapped(t testing.TB, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	e := &env{clock: newClock(), data: t.TempDir(), reports: t.TempDir()}
	srv, err := broker.New(broker.Config{AdminSecret: testAdminSecret, DisableRateLimits: true, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	creds, err := srv.RegisterApp("tenant-console", []string{"read:analytics:*", "write:reports:*"}, 1800)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	e.http = httptest.NewServer(h)
	t.Cleanup(e.http.Close)
	if e.app, err = agentwrit.NewApp(e.http.URL, creds.ClientID, creds.ClientSecret); err != nil {
		t.Fatal(err)
	}
	if e.admin, err = agentwrit.NewAdmin(e.http.URL, testAdminSecret); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) config(tenants []Tenant) Config {
	return Config{App: e.app, Admin: e.admin, Tenants: tenants, DataDir: e.data, ReportsDir: e.reports,
		TTL: 300 * time.Second, Seed: 7, Scale: 0.001, Concurrency: 4, Now: e.clock.Now,
		Emit: func(ev Event) { e.mu.Lock(); e.events = append(e.events, ev); e.mu.Unlock() }}
}

func (e *env) runner(t testing.TB, tenants []Tenant) *Runner {
	t.Helper()
	return e.runnerWith(t, tenants, nil)
}

// runnerWith is runner with the config adjusted by adjust (may be nil).
func (e *env) runnerWith(t testing.TB, tenants []Tenant, adjust func(*Config)) *Runner {
	t.Helper()
	cfg := e.config(tenants)
	if adjust != nil {
		adjust(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func (e *env) take() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.events
	e.events = nil
	return out
}

// liveOnBroker is what the broker's own audit trail shows as still live.
func (e *env) liveOnBroker(t testing.TB) []string {
	t.Helper()
	evs, err := e.admin.AllAuditEvents(context.Background(), agentwrit.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return liveaudit.Live(evs)
}

// valid asks the broker whether a token is still valid.
func (e *env) valid(t testing.TB, token string) bool {
	t.Helper()
	v, err := e.app.Validate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return v.Valid
}
