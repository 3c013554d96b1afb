package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/ui"
	"github.com/tenantui/tenantui/watch"
)

// cmdWatch follows any broker's audit trail live: a table of every agent
// grouped by tenant, or with --json one line per agent state change.
func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	var af adminFlags
	af.register(fs)
	interval := fs.Duration("interval", time.Second, "time between polls of the audit trail once caught up")
	jsonOut := fs.Bool("json", false, "write agent state changes as JSON lines instead of the live table")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *interval < 100*time.Millisecond || *interval > time.Hour {
		return usageErr("--interval must be between 100ms and 1h, got %s", *interval)
	}
	admin, err := af.admin("watch", agentwrit.WithUserAgent("tenantui"))
	if err != nil {
		return err
	}
	if !*jsonOut && (!isTerminal(os.Stdin) || !isTerminal(os.Stdout)) {
		return usageErr("not a terminal: the live view needs an interactive TTY; use `tenantui watch --json` to pipe changes")
	}
	defer admin.Client().CloseIdleConnections()
	// Fail fast on what a retry cannot fix: no broker there, a wrong secret.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := admin.Client().Health(sctx); err != nil {
		return usageErr("%s", describeConnErr(af.url, err))
	}
	if err := admin.Authenticate(sctx); err != nil {
		var au *agentwrit.AuthenticationError
		if errors.As(err, &au) {
			return usageErr("broker %s rejected the admin secret (check AGENTWRIT_ADMIN_SECRET)", af.url)
		}
		return usageErr("%s", describeConnErr(af.url, err))
	}

	w := watch.New(watch.Config{Broker: watch.AdminBroker{Admin: admin}, BrokerURL: admin.BrokerURL(), Interval: *interval})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	updates := make(chan watch.Update, 16)
	done := make(chan error, 1)
	go func() {
		defer close(updates)
		done <- w.Run(wctx, updates)
	}()
	if *jsonOut {
		err = watchJSON(wctx, updates, stdout, stderr)
	} else {
		err = watchTUI(wctx, w, admin.BrokerURL(), *interval, updates)
	}
	stop()
	for range updates { // let the watcher finish
	}
	if err != nil {
		return err
	}
	return <-done
}

// watchJSON prints each change as one JSON object per line, and faults as
// one line on stderr when they start and when they end. It returns nil when
// ctx ends (SIGINT).
func watchJSON(ctx context.Context, updates <-chan watch.Update, stdout, stderr io.Writer) error {
	enc := json.NewEncoder(stdout)
	fault, chainReported := "", false
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			if u.Reset {
				fmt.Fprintln(stderr, "tenantui: watch: the broker's audit trail restarted: following the new one")
				chainReported = false
			}
			for _, c := range u.Changes {
				if err := enc.Encode(c); err != nil {
					return failErr("write: %s", oneLine(err.Error()))
				}
			}
			switch f := u.Status.Fault; {
			case f != nil && f.Kind+f.Message != fault:
				fault = f.Kind + f.Message
				fmt.Fprintf(stderr, "tenantui: watch: %s: %s (retrying)\n", f.Kind, f.Message)
			case f == nil && fault != "":
				fault = ""
				fmt.Fprintln(stderr, "tenantui: watch: the broker answers again")
			}
			if b := u.Status.ChainBreak; b != nil && !chainReported {
				chainReported = true
				fmt.Fprintf(stderr, "tenantui: watch: %s\n", b.Error())
			}
		}
	}
}

// watchTUI runs the live view until the user quits or ctx ends.
func watchTUI(ctx context.Context, w *watch.Watcher, broker string, interval time.Duration, updates <-chan watch.Update) error {
	m := ui.NewWatch(ui.WatchOptions{Updates: updates, Control: w, Broker: broker, Interval: interval, QueryBackground: true})
	_, err := tea.NewProgram(m, tea.WithContext(ctx)).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) && ctx.Err() == nil {
		return failErr("watch: %s", oneLine(err.Error()))
	}
	return nil
}
