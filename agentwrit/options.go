package agentwrit

import (
	"crypto/tls"
	"net/http"
	"sync"
	"time"
)

// Option configures a [Client], [App] or [Admin].
type Option func(*config)

type config struct {
	httpClient *http.Client
	notify     func(msg string)
	userAgent  string
	// The client's clock (injectable, see withClock): now for session
	// expiry, after for the Retry-After and retry back-off waits.
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	// parallelLaunch lets an app's launch-token requests overlap (see
	// WithParallelLaunchTokens).
	parallelLaunch bool
}

// DefaultUserAgent is the User-Agent sent unless [WithUserAgent] overrides it.
const DefaultUserAgent = "tenantui-agentwrit/1 (AgentWrit v2.0.0 client)"

// defaultHTTPClient is shared by every client built without WithHTTPClient,
// so that all sessions to a broker share one keep-alive connection pool.
var defaultHTTPClient = sync.OnceValue(func() *http.Client { return newHTTPClient(nil) })

// newHTTPClient is the default client, with tc for TLS when non-nil. It
// speaks HTTP/1.1 only: over HTTP/2 a broker's TLS alert (a client
// certificate required or refused) is lost behind "http2: client conn could
// not be established", and a pool of keep-alive connections serves the
// client's small requests as well.
func newHTTPClient(tc *tls.Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // non-nil and empty: no HTTP/2
	if tc != nil {
		t.TLSClientConfig = tc.Clone()
	}
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

func newConfig(opts []Option) *config {
	cfg := &config{userAgent: DefaultUserAgent, now: time.Now, after: time.After}
	for _, o := range opts {
		if o != nil {
			o(cfg)
		}
	}
	if cfg.httpClient == nil {
		cfg.httpClient = defaultHTTPClient()
	}
	return cfg
}

// WithHTTPClient makes the client use c for every request. A nil c keeps the
// default: a shared *http.Client whose keep-alive Transport holds up to 16
// idle connections per host, with a 10 s overall timeout per request.
func WithHTTPClient(c *http.Client) Option {
	return func(cfg *config) { cfg.httpClient = c }
}

// WithNotify registers f to receive short human-readable messages about
// things the client does on its own, such as
// "broker rate-limited app login for tc-cad3ae1a6290; retrying in 60s".
// f may be called from any goroutine and must return quickly.
func WithNotify(f func(msg string)) Option {
	return func(cfg *config) { cfg.notify = f }
}

// WithParallelLaunchTokens lets an [App] send launch-token requests
// concurrently. By default they go one at a time, because the real v2.0.0
// broker answers concurrent ones with a spurious 403 "app not found" when its
// SQLite app lookup meets a lock; a broker known not to (tenantui's embedded
// one) is spared the wait.
func WithParallelLaunchTokens() Option {
	return func(cfg *config) { cfg.parallelLaunch = true }
}

// WithUserAgent sets the User-Agent header sent with every request.
// An empty ua keeps [DefaultUserAgent].
func WithUserAgent(ua string) Option {
	return func(cfg *config) {
		if ua != "" {
			cfg.userAgent = ua
		}
	}
}

// clock is what the client reads time from and waits on; *fakeclock.Clock
// is one.
type clock interface {
	Now() time.Time
	After(time.Duration) <-chan time.Time
}

// withClock replaces the clock used for session expiry and for every wait
// the client makes on its own (tests only), so that no test sleeps.
func withClock(c clock) Option {
	return func(cfg *config) { cfg.now, cfg.after = c.Now, c.After }
}

func (cfg *config) notifyf(msg string) {
	if cfg.notify != nil {
		cfg.notify(msg)
	}
}
