package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// releaseTimeout bounds one release.
const releaseTimeout = 5 * time.Second

// ErrShuttingDown is returned by every call that would obtain a credential
// once Shutdown has begun.
var ErrShuttingDown = errors.New("shutting down: no new agents")

// Credential roles, as the ledger and the exit line name them.
const (
	RoleStage       = "stage"           // a tenant's ETL agent
	RoleProbe       = "probe"           // a dedicated agent for one cross-tenant attempt
	RoleIsolation   = "isolation"       // the isolation check's agents
	RoleMatrix      = "matrix"          // the matrix's agents
	RoleDelegation  = "delegation"      // a dedicated agent of the delegation demo
	RoleDelegated   = "delegated token" // a token obtained by delegation
	RoleOverCeiling = "over-ceiling"    // an agent the broker should never have granted
)

// ledger is the one owner of every credential the runner obtains: each
// registered agent and each delegated token is recorded here before its reply
// is used, so that Shutdown can release whatever is still live, including
// registrations that finish after shutdown began.
type ledger struct {
	mu       sync.Mutex
	closing  bool
	inflight counter // registrations and delegations under way
	creds    []*credential
	// releasedClosing counts the releases since close, by any caller: the
	// way out's count.
	releasedClosing int
}

// credential is one entry of the ledger.
type credential struct {
	tenant string
	role   string
	agent  *agentwrit.Agent // nil for a delegated token
	token  string           // a delegated token; never shown
	id     string           // SPIFFE ID of the holder
	jti    string
	exp    time.Time
	busy   bool // a release is under way
	done   bool // released, or refused by the broker as already dead
}

// begin announces a registration or delegation. After Shutdown has begun it
// refuses, so that nothing is obtained once release-all has started.
func (l *ledger) begin() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return ErrShuttingDown
	}
	l.inflight.add() // under l.mu: close cannot miss it
	return nil
}

// end records the outcome of a begun registration (c nil: nothing obtained).
func (l *ledger) end(c *credential) {
	if c != nil {
		l.mu.Lock()
		l.creds = append(l.creds, c)
		l.mu.Unlock()
	}
	l.inflight.done()
}

// close refuses new registrations and waits, until ctx ends, for those under
// way to settle. It returns how many did not.
func (l *ledger) close(ctx context.Context) int {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	return l.inflight.wait(ctx)
}

// settle marks c released (by the broker) or dead.
func (l *ledger) settle(c *credential, released bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if released && !c.done && l.closing {
		l.releasedClosing++
	}
	c.busy = false
	c.done = true
}

// claim reserves c for one releaser: false when it is released, dead or
// being released by another caller.
func (l *ledger) claim(c *credential) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.done || c.busy {
		return false
	}
	c.busy = true
	return true
}

// isDone reports whether c is released or known dead.
func (l *ledger) isDone(c *credential) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return c.done
}

// unclaim gives c back after a failed release, for a later try.
func (l *ledger) unclaim(c *credential) {
	l.mu.Lock()
	c.busy = false
	l.mu.Unlock()
}

// renewed records c's new jti and expiry after a renewal.
func (l *ledger) renewed(c *credential, jti string, exp time.Time) {
	l.mu.Lock()
	c.jti, c.exp = jti, exp
	l.mu.Unlock()
}

// find returns the ledger entry of agent g.
func (l *ledger) find(g *agentwrit.Agent) *credential {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.creds) - 1; i >= 0; i-- {
		if l.creds[i].agent == g {
			return l.creds[i]
		}
	}
	return nil
}

// pending returns the credentials that may still be live at now: not
// released, not refused, not expired.
func (l *ledger) pending(now time.Time) []*credential {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*credential
	for _, c := range l.creds {
		if !c.done && now.Before(c.exp) {
			out = append(out, c)
		}
	}
	return out
}

// LiveCredential is a credential that may still be live: for the exit line.
type LiveCredential struct {
	Tenant, Role, SPIFFEID, JTI string
	ExpiresAt                   time.Time
}

// Short is the display form: role, tenant and jti prefix.
func (c LiveCredential) Short() string {
	return fmt.Sprintf("%s:%s(jti %s…)", c.Role, c.Tenant, short(c.JTI))
}

// LiveCredentials lists, without I/O, every credential the runner obtained
// that is neither released nor refused by the broker nor expired, soonest
// expiry first.
func (r *Runner) LiveCredentials() []LiveCredential {
	cs := r.led.pending(r.cfg.Now())
	out := make([]LiveCredential, len(cs))
	for i, c := range cs {
		out[i] = LiveCredential{Tenant: c.tenant, Role: c.role, SPIFFEID: c.id, JTI: c.jti, ExpiresAt: c.exp}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ExpiresAt.Before(out[j].ExpiresAt) })
	return out
}

// ShutdownResult is what Shutdown did.
type ShutdownResult struct {
	Released  int              // credentials released by the broker since shutdown began
	Dead      int              // refused as already expired or revoked: not live
	Left      []LiveCredential // may still be live: the release failed or was not tried in time
	Unsettled int              // registrations that had not answered when release began
}

// OK reports whether no credential can outlive the process.
func (s ShutdownResult) OK() bool { return len(s.Left) == 0 && s.Unsettled == 0 }

// Summary is one line: how many were released and what stays live.
func (s ShutdownResult) Summary() string {
	msg := fmt.Sprintf("released %s", plural(s.Released, "agent"))
	if s.OK() {
		return msg + ", none left live"
	}
	ids := make([]string, 0, len(s.Left))
	for i, c := range s.Left {
		if i == 5 {
			ids = append(ids, fmt.Sprintf("and %d more", len(s.Left)-5))
			break
		}
		ids = append(ids, c.Short())
	}
	if len(s.Left) > 0 {
		msg += fmt.Sprintf("; %s left live until their TTL: %v", plural(len(s.Left), "credential"), ids)
	}
	if s.Unsettled > 0 {
		msg += fmt.Sprintf("; %s did not answer in time and may have left an agent live", plural(s.Unsettled, "registration"))
	}
	return msg
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// Shutdown is every way out: it cancels the work in flight, stops the
// auto-renewal, lets registrations under way settle, then releases every
// credential the runner obtained that may still be live. It is bounded by
// ctx (give it a few seconds). Calling it again waits for the first call and
// returns its result.
func (r *Runner) Shutdown(ctx context.Context) ShutdownResult {
	r.shutOnce.Do(func() {
		r.led.mu.Lock()
		r.led.closing = true // no new registration; releases count from here
		r.led.mu.Unlock()
		r.cancelWork()
		r.renewWG.Wait()
		res := ShutdownResult{}
		// Registrations get most of the budget; releases need the rest.
		settleCtx := ctx
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			settleCtx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
			defer cancel()
		}
		// The cancelled calls wind down (a stage's own release included)
		// before the release-all, so that none presents a token the
		// release-all is revoking under it.
		r.ops.wait(settleCtx)
		res.Unsettled = r.led.close(settleCtx)
		_, res.Dead = r.releaseCreds(ctx, r.led.pending(r.cfg.Now()))
		r.led.mu.Lock()
		res.Released = r.led.releasedClosing
		r.led.mu.Unlock()
		res.Left = r.LiveCredentials()
		r.shutRes = res
		close(r.shutDone)
	})
	select {
	case <-r.shutDone:
		return r.shutRes
	case <-ctx.Done():
		return ShutdownResult{Left: r.LiveCredentials()}
	}
}

// releaseCreds releases cs, a few at a time, and returns how many the broker
// released and how many it refused as already dead.
func (r *Runner) releaseCreds(ctx context.Context, cs []*credential) (released, dead int) {
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok, isDead, _ := r.release(ctx, c)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ok:
				released++
			case isDead:
				dead++
			}
		}()
	}
	wg.Wait()
	return released, dead
}

// release releases credential c and reports the broker's answer as events;
// when c is a tenant's current stage agent, the tenant's state follows the
// answer. ok: the broker released it. dead: the broker refused because the
// token was already expired or revoked, so it is not live either (the tenant
// keeps EXPIRED or REVOKED; a refused release is not a release). A
// credential another caller is releasing is skipped (ok and dead false, nil
// error).
func (r *Runner) release(ctx context.Context, c *credential) (ok, dead bool, err error) {
	for !r.led.claim(c) {
		// Released or dead already; or another caller is releasing it: wait
		// for its answer, so that the caller's count is right.
		if r.led.isDone(c) {
			return false, false, nil
		}
		select {
		case <-ctx.Done():
			return false, false, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Once sent, a release runs to its answer even if the caller is
	// cancelled (a quit): a release the broker carried out but whose reply
	// was dropped would be retried and refused, and counted wrongly.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	if dl, ok := ctx.Deadline(); ok {
		cancel()
		rctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
	}
	if c.agent != nil {
		err = c.agent.Release(rctx)
	} else {
		err = r.cfg.App.Client().Release(rctx, c.token)
	}
	cancel()
	var tr *tenantRun
	if c.role == RoleStage {
		tr, _ = r.tenant(c.tenant)
	}
	var ae *agentwrit.AuthenticationError
	switch {
	case err == nil:
		r.led.settle(c, true)
		ev := Event{Kind: EventReleased, Tenant: c.tenant, Message: fmt.Sprintf("%s: %s %s released", c.tenant, c.role, c.id)}
		if c.role == RoleStage {
			ev.Stage, ev.Message = StageRelease, fmt.Sprintf("%s: agent %s released", c.tenant, c.id)
		}
		if tr != nil {
			tr.mu.Lock()
			if tr.agent == c.agent {
				tr.released = true
				ev.Agent = tr.agentInfoLocked(r.cfg.Now())
			}
			tr.mu.Unlock()
		} else if c.agent != nil {
			ev.Agent = agentInfo(c.agent, true, false, 0, r.cfg.Now())
		}
		r.emit(ev)
		return true, false, nil
	case errors.As(err, &ae):
		r.led.settle(c, false)
		state := "expired"
		if r.cfg.Now().Before(c.exp) {
			state = "revoked"
		}
		if tr != nil {
			tr.mu.Lock()
			if tr.agent == c.agent && state == "revoked" {
				tr.revoked = true
			}
			tr.mu.Unlock()
		}
		msg := fmt.Sprintf("release refused by the broker (%s): the token is already %s", ae.Detail, state)
		r.emit(Event{Kind: EventInfo, Tenant: c.tenant, Message: fmt.Sprintf("%s: %s %s: %s", c.tenant, c.role, c.id, msg)})
		return false, true, errors.New(msg)
	default:
		r.led.unclaim(c)
		err = fmt.Errorf("release %s %s %s: %w", c.tenant, c.role, c.id, err)
		r.emit(Event{Kind: EventError, Tenant: c.tenant, Err: oneLine(err), Message: oneLine(err)})
		return false, false, err
	}
}

// releaseTransient releases an agent obtained for one operation (a probe, a
// check): bounded, and even when ctx is cancelled.
func (r *Runner) releaseTransient(ctx context.Context, tenant string, g *agentwrit.Agent) {
	c := r.led.find(g)
	if c == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	r.release(rctx, c)
}
