package main

import (
	"context"
	"errors"
	"flag"
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
func cmdConsole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	tenants, err := c.tenants()
	if err != nil {
		return err
	}
	if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
		return usageErr("not a terminal: the console needs an interactive TTY; for a headless run use `tenantui run`")
	}
	// Broker notices (a rate-limited login, say) go to stderr until the
	// console owns the screen, then into its log.
	var toConsole atomic.Pointer[chan pipeline.Event]
	notify := func(msg string) {
		if ch := toConsole.Load(); ch != nil {
			select {
			case *ch <- pipeline.Event{Kind: pipeline.EventInfo, Time: time.Now(), Message: msg}:
			default: // never block the caller on a full log
			}
			return
		}
		fmt.Fprintln(stderr, "tenantui: "+msg)
	}
	sess, err := connect(ctx, c.broker, notify)
	if err != nil {
		return err
	}
	defer sess.Close()

	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan pipeline.Event, 4096)
	r, err := pipeline.New(pipeline.Config{
		App: sess.App, Admin: sess.Admin, NoAdminWhy: sess.NoAdminWhy, Tenants: tenants,
		DataDir: c.data, ReportsDir: c.reports, TTL: c.ttl, Seed: c.seed, Scale: c.scale,
		Concurrency: c.concurrency,
		Emit: func(ev pipeline.Event) {
			select {
			case events <- ev:
			case <-uctx.Done():
			}
		},
	})
	if err != nil {
		return usageErr("%v", err)
	}
	defer r.Close()

	if c.autoRenew {
		go r.AutoRenew(uctx) // ends with uctx
	}
	toConsole.Store(&events)
	m := ui.New(ui.Options{
		Events:  events,
		Control: r,
		Tenants: tenants,
		Broker: ui.BrokerInfo{URL: sess.URL, Mode: sess.Mode, Version: sess.Version, Healthy: sess.Healthy,
			ClientID: shortID(sess.ClientID)},
		TTL:             c.ttlDuration(),
		QueryBackground: true,
	})
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
