package pipeline

import (
	"context"
	"time"
)

// AutoRenewMargin is how long before expiry AutoRenew renews an agent, at
// most: for short TTLs it renews when a fifth of the lifetime is left.
const AutoRenewMargin = 30 * time.Second

// StartAutoRenew renews every active agent shortly before it expires, on a
// goroutine the runner owns: it stops when Shutdown begins, and Shutdown
// waits for it before releasing.
func (r *Runner) StartAutoRenew() {
	r.renewWG.Add(1)
	go func() {
		defer r.renewWG.Done()
		r.AutoRenew(r.life)
	}()
}

// AutoRenew renews every active agent shortly before it expires, checking
// once a second until ctx is done. It blocks (see StartAutoRenew).
func (r *Runner) AutoRenew(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.RenewDue(ctx)
		}
	}
}

// RenewDue renews the active agents that are within their renewal margin
// (the smaller of AutoRenewMargin and a fifth of the agent's lifetime) and
// returns how many it renewed. Failures are reported as events.
func (r *Runner) RenewDue(ctx context.Context) int {
	now := r.cfg.Now()
	n := 0
	for _, tr := range r.tenants {
		tr.mu.Lock()
		info := tr.agentInfoLocked(r.cfg.Now())
		tr.mu.Unlock()
		if info == nil || info.State != AgentActive {
			continue
		}
		margin := min(AutoRenewMargin, info.ExpiresAt.Sub(info.IssuedAt)/5)
		if info.ExpiresAt.Sub(now) > margin {
			continue
		}
		if err := r.Renew(ctx, tr.t.ID); err != nil {
			r.emit(Event{Kind: EventError, Tenant: tr.t.ID, Err: oneLine(err), Message: "auto-renew: " + oneLine(err)})
			continue
		}
		n++
	}
	return n
}
