package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// Broker is what the watcher needs from a broker: health, the audit trail
// and revocation. [AdminBroker] adapts an *agentwrit.Admin.
type Broker interface {
	AuditSource
	Health(ctx context.Context) (*agentwrit.Health, error)
	Revoke(ctx context.Context, level agentwrit.RevokeLevel, target string) (*agentwrit.RevokeResult, error)
}

// AdminBroker is a [Broker] over an operator session.
type AdminBroker struct{ *agentwrit.Admin }

// Health calls GET /v1/health through the session's client.
func (a AdminBroker) Health(ctx context.Context) (*agentwrit.Health, error) {
	return a.Admin.Client().Health(ctx)
}

// Fault kinds, shown as the watcher's live status.
const (
	FaultUnreachable = "unreachable"          // no answer (refused, timeout, DNS...)
	FaultRateLimited = "rate limited"         // 429: waiting as long as Retry-After asks
	FaultAdminLogin  = "admin login rejected" // 401 on the admin login: secret changed, broker restarted
	FaultForbidden   = "forbidden"            // 403: the session lacks admin:audit:*
	FaultTrail       = "trail"                // the trail shrank, or could not be read
)

// Fault is why the last poll failed. The watcher keeps polling and clears
// it when the broker answers again.
type Fault struct {
	Kind    string
	Message string    // one line, cause first
	Since   time.Time // first failure of this run of failures
	RetryAt time.Time // when the next attempt is due
}

// Status is the watcher's header: broker health, events seen, chain, faults.
type Status struct {
	Broker       string // display URL
	Healthy      bool
	Version      string
	BrokerEvents int // audit_events_count from the last health reply
	Events       int // events read and folded
	Agents       int
	Chain        string      // "chain verified, N events" or the first broken link
	ChainBreak   *ChainBreak // nil while the chain holds
	LastPoll     time.Time   // end of the last successful poll
	CatchingUp   bool        // more events are waiting on the broker
	Fault        *Fault      // nil when the last poll succeeded
	Restarted    time.Time   // when the trail last restarted (zero: never)
}

// Update is what one poll step produced: the status, copies of the agents
// whose stories changed, and the changes themselves, oldest first. Reset
// means the broker's trail restarted: forget every agent seen before.
type Update struct {
	Status  Status
	Agents  []Agent
	Changes []Change
	Reset   bool
}

// Config configures a [Watcher].
type Config struct {
	Broker    Broker
	BrokerURL string        // for display
	Interval  time.Duration // between polls once caught up; default 1 s
	Now       func() time.Time
	// Wait sleeps for d or until ctx ends; default a timer. Tests replace it.
	Wait func(ctx context.Context, d time.Duration) error
}

// Watcher follows one broker. Run owns the book, the chain and the
// follower; only Revoke may be called from other goroutines.
type Watcher struct {
	cfg    Config
	book   *Book
	chain  Chain
	follow *Follower
	status Status
	// failures counts consecutive failed polls, for the back-off.
	failures int
}

// New returns a watcher; nothing is contacted until Run or Poll.
func New(cfg Config) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wait == nil {
		cfg.Wait = sleep
	}
	w := &Watcher{cfg: cfg, book: NewBook(), follow: NewFollower(cfg.Broker)}
	w.status.Broker = cfg.BrokerURL
	w.status.Chain = w.chain.Status()
	return w
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run polls until ctx ends, sending one Update per step on out (a step is
// one page while catching up, so a long trail shows progress). It returns
// nil when ctx ends; broker failures are faults in the status, not errors.
func (w *Watcher) Run(ctx context.Context, out chan<- Update) error {
	for {
		u, wait := w.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case out <- u:
		case <-ctx.Done():
			return nil
		}
		if wait > 0 {
			if err := w.cfg.Wait(ctx, wait); err != nil {
				return nil
			}
		}
	}
}

// Poll performs one step: health, then one page of new events folded into
// the stories and checked against the chain, then expiries by the clock. It
// returns the update and how long to wait before the next step (0 while
// events are waiting).
func (w *Watcher) Poll(ctx context.Context) (Update, time.Duration) {
	now := w.cfg.Now()
	var changes []Change
	wait := w.cfg.Interval
	reset := false
	h, err := w.cfg.Broker.Health(ctx)
	if err == nil {
		w.status.Healthy, w.status.Version, w.status.BrokerEvents = h.Status == "ok", h.Version, h.AuditEventsCount
		w.follow.Expect(h.AuditEventsCount)
		var events []agentwrit.AuditEvent
		var more bool
		events, more, err = w.follow.Next(ctx)
		if errors.Is(err, ErrTrailRestarted) {
			// A new trail (an in-memory broker restarted): its agents are
			// new ones, the old ones' tokens died with the old broker.
			size := w.follow.PageSize
			w.book, w.chain, w.follow = NewBook(), Chain{}, NewFollower(w.cfg.Broker)
			w.follow.PageSize = size
			w.follow.Expect(h.AuditEventsCount)
			w.status.Restarted, reset = now, true
			events, more, err = w.follow.Next(ctx)
		}
		if err == nil {
			w.chain.Add(events)
			changes = w.book.Apply(events)
			w.status.CatchingUp = more
			w.status.LastPoll = w.cfg.Now()
			w.status.Fault = nil
			if more {
				wait = 0
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return Update{Status: w.status}, 0
		}
		wait = w.fault(now, err)
	}
	changes = append(changes, w.book.Tick(w.cfg.Now())...)
	w.status.Events = w.book.Events()
	w.status.Agents = w.book.Len()
	w.status.Chain, w.status.ChainBreak = w.chain.Status(), w.chain.Broken()
	return Update{Status: w.status, Agents: w.book.TakeDirty(), Changes: changes, Reset: reset}, wait
}

// fault records err as the live status and returns the wait before
// retrying: what Retry-After asks after a 429; after a rejected admin login
// 10 s, because every failed login is an admin_auth_failed event in the very
// trail being watched; otherwise the interval, doubling while the failures
// last, up to 5 s for an unreachable broker and 30 s for other faults.
func (w *Watcher) fault(now time.Time, err error) time.Duration {
	f := Fault{Since: now, Message: describe(err)}
	if prev := w.status.Fault; prev != nil {
		f.Since = prev.Since
		w.failures++
	} else {
		w.failures = 1
	}
	backoff := func(limit time.Duration) time.Duration {
		d := w.cfg.Interval
		for i := 1; i < w.failures && d < limit; i++ {
			d *= 2
		}
		return max(min(d, limit), w.cfg.Interval)
	}
	var te *agentwrit.TransportError
	var rl *agentwrit.RateLimitError
	var au *agentwrit.AuthenticationError
	var az *agentwrit.AuthorizationError
	var wait time.Duration
	switch {
	case errors.As(err, &rl):
		f.Kind = FaultRateLimited
		wait = max(rl.RetryAfter, w.cfg.Interval)
	case errors.As(err, &te):
		f.Kind = FaultUnreachable
		w.status.Healthy = false
		// The header shows the broker's URL already.
		if w.cfg.BrokerURL != "" {
			f.Message = strings.Replace(f.Message, " at "+w.cfg.BrokerURL, "", 1)
		}
		wait = backoff(5 * time.Second)
	case errors.As(err, &au):
		f.Kind = FaultAdminLogin
		wait = max(10*time.Second, w.cfg.Interval)
	case errors.As(err, &az):
		f.Kind = FaultForbidden
		wait = backoff(30 * time.Second)
	default:
		f.Kind = FaultTrail
		wait = backoff(30 * time.Second)
	}
	f.RetryAt = now.Add(wait)
	w.status.Fault = &f
	return wait
}

// describe is an error as one line, cause first: a broker's answer as
// "401 unauthorized: invalid credentials (request …)", a transport failure
// as "broker unreachable at …: connection refused", anything else without
// the client's "agentwrit: <op>:" prefixes.
func describe(err error) string {
	var api *agentwrit.APIError
	var te *agentwrit.TransportError
	switch {
	case errors.As(err, &api):
		return api.Error()
	case errors.As(err, &te):
		return te.Error()
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	for {
		rest, ok := strings.CutPrefix(s, "agentwrit: ")
		if !ok {
			break
		}
		s = rest
		if i := strings.Index(s, ": "); i >= 0 && i < 40 {
			s = s[i+2:]
		}
	}
	return strings.TrimPrefix(s, "watch: ")
}

// Revoke asks the broker to revoke at level; the story changes only when the
// token_revoked event arrives through the trail. Safe to call from any
// goroutine.
func (w *Watcher) Revoke(ctx context.Context, level, target string) error {
	if target == "" {
		return fmt.Errorf("watch: revoke at level %s: no target", level)
	}
	if _, err := w.cfg.Broker.Revoke(ctx, agentwrit.RevokeLevel(level), target); err != nil {
		return fmt.Errorf("revoke at level %s: %s", level, describe(err))
	}
	return nil
}

// RevokeTarget is the target of a revocation of a at level (§7): its
// current jti, its SPIFFE ID, its task id, or its SPIFFE ID as the root of
// the chains it started.
func RevokeTarget(a Agent, level string) string {
	switch agentwrit.RevokeLevel(level) {
	case agentwrit.RevokeToken:
		return a.JTI
	case agentwrit.RevokeAgent, agentwrit.RevokeChain:
		return a.ID
	case agentwrit.RevokeTask:
		return a.Task
	}
	return ""
}
