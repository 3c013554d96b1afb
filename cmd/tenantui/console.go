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

// cmdConsole runs the interactive console. Every way out (q, ctrl+c,
// SIGINT, SIGTERM, SIGHUP) goes through the runner's Shutdown: cancel the
// work in flight, let registrations settle, release every credential. The
// exit is 0 only if nothing is left live.
func cmdConsole(in *interrupts, args []string, stdout, stderr io.Writer) (retErr error) {
	ctx := in.ctx
	c, tenants, err := parseCommon("console", args, stderr, nil)
	if err != nil {
		return err
	}
	if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
		return usageErr("not a terminal: the console needs an interactive TTY; for a headless run use `tenantui run`")
	}
	tuneGC()
	// Broker notices (a rate-limited login, say) go to stderr until the
	// console owns the screen, then into its log.
	var toConsole atomic.Pointer[chan pipeline.Event]
	var elog *pipeline.EventLog
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
	sess, elog, finish, err := c.connectLogged(ctx, notify)
	if err != nil {
		return err
	}
	defer finish(&retErr) // after the way out has emitted its events

	// The console's own context: not the signal's, which the program
	// receives as a message instead, to release visibly.
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	con, err := newConsole(uctx, c, tenants, sess, nil, elog)
	if err != nil {
		return usageErr("%v", err)
	}
	r := con.runner
	defer r.Close()
	toConsole.Store(&con.events)
	con.opts.QueryBackground = true
	return runConsole(in, uctx, "console", ui.New(con.opts), r, stdout, stderr)
}

// credentialOwner is what the way out needs of a pipeline.
type credentialOwner interface {
	Shutdown(ctx context.Context) pipeline.ShutdownResult
	LiveCredentials() []pipeline.LiveCredential
}

// runConsole runs a console model until it quits, then makes sure nothing
// owner obtained outlives the process: a signal is a quit the console shows,
// a second one exits at once; if the program ended without its own way out
// (the terminal closed, a crash), owner is shut down here, on stderr.
func runConsole(in *interrupts, ctx context.Context, what string, m ui.Model, owner credentialOwner, stdout, stderr io.Writer) error {
	in.reportLive(owner.LiveCredentials)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithoutSignalHandler())
	in.onFirst(func() { p.Send(ui.Interrupt()) })
	final, runErr := p.Run()
	fm, _ := final.(ui.Model)
	// The user has asked to quit already: from here on, a signal exits at
	// once (saying what stays live).
	in.onFirst(in.hardExit)

	res, done := fm.Shutdown()
	switch {
	case fm.Abandoned():
		return failErr("%s", leftLiveLine("exiting at once", owner.LiveCredentials()))
	case !done:
		if n := len(owner.LiveCredentials()); n > 0 {
			fmt.Fprintf(stderr, "tenantui: releasing %d credential(s)… (ctrl+c again exits at once)\n", n)
		}
		sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
		res = owner.Shutdown(sctx)
		scancel()
	}
	if runErr != nil && !errors.Is(runErr, tea.ErrProgramKilled) && !errors.Is(runErr, tea.ErrInterrupted) {
		return failErr("%s: %s; %s", what, oneLine(runErr.Error()), res.Summary())
	}
	if !res.OK() {
		return failErr("%s", res.Summary())
	}
	fmt.Fprintf(stdout, "tenantui: %s; bye.\n", res.Summary())
	return nil
}

// shutdownTimeout bounds the way out when the console did not do it.
const shutdownTimeout = 6 * time.Second

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
		Concurrency: c.concurrencyFor(sess), Now: now,
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
		r.StartAutoRenew() // stops when the runner shuts down
	}
	return &console{runner: r, events: events, opts: ui.Options{
		Events:  events,
		Control: r,
		Tenants: tenants,
		Broker: ui.BrokerInfo{URL: sess.URL, Mode: sess.Mode, Version: sess.Version, Healthy: sess.Healthy,
			ClientID: shortID(sess.ClientID), AdminRejected: sess.NoAdminWhy == adminRejected},
		TTL: c.ttl,
		Now: now,
	}}, nil
}
