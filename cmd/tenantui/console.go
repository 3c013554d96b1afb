package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"

	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/ui"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(f.Fd()) }

// cmdConsole runs the interactive console.
func cmdConsole(ctx context.Context, args []string, stdout, stderr io.Writer) (retErr error) {
	c, tenants, err := parseCommon("console", args, stderr, nil)
	if err != nil {
		return err
	}
	if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
		return usageErr("not a terminal: the console needs an interactive TTY; for a headless run use `tenantui run`")
	}
	elog, err := c.openLog()
	if err != nil {
		return err
	}
	// Broker notices (a rate-limited login, say) go to stderr until the
	// console owns the screen, then into its log.
	var toConsole atomic.Pointer[chan pipeline.Event]
	notify := func(msg string) {
		if ch := toConsole.Load(); ch != nil {
			ev := pipeline.Event{Kind: pipeline.EventInfo, Time: time.Now(), Message: msg}
			if elog != nil {
				elog.Write(ev)
			}
			select {
			case *ch <- ev:
			default: // never block the caller on a full log
			}
			return
		}
		fmt.Fprintln(stderr, "tenantui: "+msg)
	}
	sess, err := connect(ctx, c.broker, notify)
	if err != nil {
		closeLog(elog)
		return err
	}
	defer sess.Close()
	// Closed last, after the release on exit has emitted its events.
	defer func() {
		if err := closeLog(elog); err != nil && retErr == nil {
			retErr = err
		}
	}()

	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	con, err := newConsole(uctx, c, tenants, sess, nil, elog)
	if err != nil {
		return usageErr("%v", err)
	}
	r := con.runner
	defer r.Close()
	toConsole.Store(&con.events)
	con.opts.QueryBackground = true
	m := ui.New(con.opts)
	p := tea.NewProgram(m, tea.WithContext(uctx))
	final, runErr := p.Run()
	cancel()

	// Safety net: the console releases agents before quitting; anything still
	// live (an interrupted quit, a crash in a command) is released here.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), defaultReleaseTimeout)
	defer rcancel()
	extra, relErr := r.ReleaseAll(rctx)
	released := extra
	if fm, ok := final.(ui.Model); ok {
		released += fm.Released()
	}
	if runErr != nil && !errors.Is(runErr, tea.ErrProgramKilled) && !errors.Is(runErr, tea.ErrInterrupted) {
		return failErr("console: %s", oneLine(runErr.Error()))
	}
	if relErr != nil {
		return failErr("release on exit: %s", firstLine(relErr))
	}
	fmt.Fprintf(stdout, "tenantui: released %d agent(s); bye.\n", released)
	return nil
}

// console is the wiring of one console session: the runner, the channel its
// events reach the model on, and the model's options.
type console struct {
	runner *pipeline.Runner
	events chan pipeline.Event
	opts   ui.Options
}

// newConsole wires a runner to a console model for sess. The runner's events
// flow to the model until ctx ends (and to elog, if not nil); with c.autoRenew, agents are renewed
// before expiry until then too. now is the clock (nil: time.Now).
func newConsole(ctx context.Context, c common, tenants []pipeline.Tenant, sess *session, now func() time.Time, elog *pipeline.EventLog) (*console, error) {
	events := make(chan pipeline.Event, 4096)
	r, err := pipeline.New(pipeline.Config{
		App: sess.App, Admin: sess.Admin, NoAdminWhy: sess.NoAdminWhy, Tenants: tenants,
		DataDir: c.data, ReportsDir: c.reports, TTL: c.ttl, Seed: c.seed, Scale: c.scale,
		Concurrency: c.concurrency, Now: now,
		Emit: withLog(elog, func(ev pipeline.Event) {
			select {
			case events <- ev:
			case <-ctx.Done():
			}
		}),
	})
	if err != nil {
		return nil, err
	}
	if c.autoRenew {
		go r.AutoRenew(ctx) // ends with ctx
	}
	return &console{runner: r, events: events, opts: ui.Options{
		Events:  events,
		Control: r,
		Tenants: tenants,
		Broker: ui.BrokerInfo{URL: sess.URL, Mode: sess.Mode, Version: sess.Version, Healthy: sess.Healthy,
			ClientID: shortID(sess.ClientID)},
		TTL: c.ttlDuration(),
		Now: now,
	}}, nil
}
