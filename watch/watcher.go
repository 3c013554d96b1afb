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
}

// Update is what one poll step produced: the status, copies of the agents
// whose stories changed, and the changes themselves, oldest first.
type Update struct {
	Status  Status
	Agents  []Agent
	Changes []Change
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
	h, err := w.cfg.Broker.Health(ctx)
	if err == nil {
		w.status.Healthy, w.status.Version, w.status.BrokerEvents = h.Status == "ok", h.Version, h.AuditEventsCount
		w.follow.Expect(h.AuditEventsCount)
		var events []agentwrit.AuditEvent
		var more bool
		events, more, err = w.follow.Next(ctx)
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
	return Update{Status: w.status, Agents: w.book.TakeDirty(), Changes: changes}, wait
}

// fault records err as the live status and returns the wait before retrying.
func (w *Watcher) fault(now time.Time, err error) time.Duration {
	// The header shows the broker's URL already.
	msg := describe(err)
	if w.cfg.BrokerURL != "" {
		msg = strings.Replace(msg, " at "+w.cfg.BrokerURL, "", 1)
	}
	f := Fault{Since: now, Message: msg}
	if w.status.Fault != nil {
		f.Since = w.status.Fault.Since
	}
	wait := w.cfg.Interval
	var te *agentwrit.TransportError
	var rl *agentwrit.RateLimitError
	var au *agentwrit.AuthenticationError
	var az *agentwrit.AuthorizationError
	switch {
	case errors.As(err, &rl):
		f.Kind = FaultRateLimited
		if rl.RetryAfter > wait {
			wait = rl.RetryAfter
		}
	case errors.As(err, &te):
		f.Kind = FaultUnreachable
		w.status.Healthy = false
	case errors.As(err, &au):
		f.Kind = FaultAdminLogin
	case errors.As(err, &az):
		f.Kind = FaultForbidden
	default:
		f.Kind = FaultTrail
	}
	f.RetryAt = now.Add(wait)
	w.status.Fault = &f
	return wait
}

// describe is an error as one line without the client's "agentwrit: op:"
// prefixes, cause first.
func describe(err error) string {
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
