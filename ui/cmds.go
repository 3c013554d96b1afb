package ui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
)

// Every tea.Cmd the console issues. Each is built from values copied out of
// the model (never the model itself) and does its I/O on the Cmd goroutine.

// Timeouts for Controller calls. A quit cancels them sooner: the runner
// joins every call to its own life, which Shutdown ends.
const (
	callTimeout   = 30 * time.Second
	runAllTimeout = 10 * time.Minute
)

// waitForEvent delivers the next pipeline event. The model re-arms it after
// every event; a closed channel ends the listening.
func waitForEvent(ch <-chan pipeline.Event) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsClosedMsg{}
		}
		// Take whatever else is already waiting, so that a burst (a run of
		// many tenants) costs one update and one refresh, not one per event.
		var batch eventBatchMsg
		for len(batch) < maxEventBatch {
			select {
			case next, ok := <-ch:
				if !ok { // the close is seen on the next wait
					if batch == nil {
						return eventMsg(ev)
					}
					return batch
				}
				if batch == nil {
					batch = append(batch, ev)
				}
				batch = append(batch, next)
				continue
			default:
			}
			break
		}
		if batch == nil {
			return eventMsg(ev)
		}
		return batch
	}
}

// maxEventBatch bounds the events one message carries.
const maxEventBatch = 256

// tick is the 1 Hz clock of chain gen, aligned to the wall-clock second so
// the header clock and the countdowns change together.
func tick(gen int) tea.Cmd {
	return tea.Every(time.Second, func(time.Time) tea.Msg { return tickMsg{gen: gen} })
}

// guarded runs f and turns a panic in the Controller into the op's failure
// message, so a broken Controller cannot take the console down.
func guarded(op string, f func() tea.Msg, fail func(error) tea.Msg) tea.Cmd {
	return func() (msg tea.Msg) {
		defer func() {
			if r := recover(); r != nil {
				msg = fail(fmt.Errorf("%s: panic: %v", op, r))
			}
		}()
		return f()
	}
}

func timeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func refreshCmd(c Controller) tea.Cmd {
	return guarded("snapshot", func() tea.Msg { return snapshotMsg{snap: c.Snapshot()} },
		func(error) tea.Msg { return snapshotMsg{} })
}

func adminCmd(c Controller) tea.Cmd {
	return guarded("admin", func() tea.Msg {
		ok, why := c.AdminAvailable()
		return adminMsg{ok: ok, why: why}
	}, func(err error) tea.Msg { return adminMsg{why: err.Error()} })
}

func stepCmd(c Controller, tenant string) tea.Cmd {
	return guarded("step", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		err := c.Step(ctx, tenant)
		return stepDoneMsg{tenant: tenant, err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return stepDoneMsg{tenant: tenant, err: err} })
}

func runAllCmd(c Controller) tea.Cmd {
	return guarded("run all", func() tea.Msg {
		ctx, cancel := timeout(runAllTimeout)
		defer cancel()
		err := c.RunAll(ctx)
		return runAllDoneMsg{err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return runAllDoneMsg{err: err} })
}

func probeCmd(c Controller, actor, target string, op pipeline.Op, released bool) tea.Cmd {
	return guarded("probe", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		var (
			res pipeline.ProbeResult
			err error
		)
		if released {
			res, err = c.ProbeReleased(ctx, actor, target, op)
		} else {
			res, err = c.Probe(ctx, actor, target, op)
		}
		return probeDoneMsg{res: res, released: released, err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return probeDoneMsg{released: released, err: err} })
}

func isolationCmd(c Controller) tea.Cmd {
	return guarded("isolation check", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		res, err := c.IsolationCheck(ctx)
		return isolationDoneMsg{res: res, err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return isolationDoneMsg{err: err} })
}

func matrixCmd(c Controller) tea.Cmd {
	return guarded("matrix", func() tea.Msg {
		ctx, cancel := timeout(runAllTimeout)
		defer cancel()
		res, err := c.Matrix(ctx)
		return matrixDoneMsg{res: res, err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return matrixDoneMsg{err: err} })
}

func renewCmd(c Controller, tenant string) tea.Cmd {
	return guarded("renew", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		err := c.Renew(ctx, tenant)
		return renewDoneMsg{tenant: tenant, err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return renewDoneMsg{tenant: tenant, err: err} })
}

func releaseCmd(c Controller, tenant string) tea.Cmd {
	return guarded("release", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		err := c.Release(ctx, tenant)
		return releaseDoneMsg{tenant: tenant, err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return releaseDoneMsg{tenant: tenant, err: err} })
}

func revokeCmd(c Controller, tenant, level string) tea.Cmd {
	return guarded("revoke", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		err := c.Revoke(ctx, tenant, level)
		return revokeDoneMsg{tenant: tenant, level: level, err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return revokeDoneMsg{tenant: tenant, level: level, err: err} })
}

// delegateCmd runs the delegation demo: from's agent first tries to delegate
// to's read scope (which from does not hold: the broker must refuse), then
// from's own read scope (allowed, with a chain).
func delegateCmd(c Controller, from, to pipeline.Tenant) tea.Cmd {
	return guarded("delegate", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		msg := delegateDoneMsg{from: from.ID, to: to.ID}
		for _, sc := range []string{to.ReadScope, from.ReadScope} {
			res, err := c.Delegate(ctx, from.ID, to.ID, []string{sc})
			if err != nil {
				msg.err = err
				break
			}
			msg.results = append(msg.results, res)
		}
		msg.snap = c.Snapshot()
		return msg
	}, func(err error) tea.Msg { return delegateDoneMsg{from: from.ID, to: to.ID, err: err} })
}

func overCeilingCmd(c Controller, tenant string) tea.Cmd {
	return guarded("over-ceiling", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		a, err := c.CreateOverCeiling(ctx, tenant)
		return overCeilingDoneMsg{tenant: tenant, access: a, err: err, snap: c.Snapshot()}
	}, func(err error) tea.Msg { return overCeilingDoneMsg{tenant: tenant, err: err} })
}

func auditCmd(c Controller, f pipeline.AuditFilter) tea.Cmd {
	return guarded("audit", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		res, err := c.Audit(ctx, f)
		return auditDoneMsg{filter: f, res: res, err: err}
	}, func(err error) tea.Msg { return auditDoneMsg{filter: f, err: err} })
}
