// Command tenantui shows, live, how the AgentWrit credential broker keeps the
// tenants of a nightly multi-tenant ETL apart.
//
//	tenantui [flags]          the interactive console (default)
//	tenantui run [flags]      the headless run: the sample's transcript
//	tenantui audit [flags]    print a broker's audit trail and verify its chain
//	tenantui broker [flags]   a standalone AgentWrit-compatible broker
//	tenantui tour [flags]     the guided tour (--solve checks its lessons)
//
// Exit codes: 0 success, 1 a check failed or the run failed, 2 usage or
// configuration error (bad flags, bad catalog, unreachable broker, rejected
// credentials, not a terminal).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// exitError carries an exit code with a one-line message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, a...)}
}

func failErr(format string, a ...any) error {
	return &exitError{code: 1, msg: fmt.Sprintf(format, a...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := "console", args
	if len(args) > 0 {
		switch args[0] {
		case "run", "audit", "broker", "console", "tour":
			cmd, rest = args[0], args[1:]
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, topUsage)
			return 0
		}
	}
	var err error
	switch cmd {
	case "run":
		err = cmdRun(ctx, rest, stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, rest, stdout, stderr)
	case "broker":
		err = cmdBroker(ctx, rest, stdout, stderr)
	case "tour": // the guided tour (tour.go)
		err = cmdTour(ctx, rest, stdout, stderr)
	default:
		err = cmdConsole(ctx, rest, stdout, stderr)
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "tenantui: "+ee.msg)
		}
		return ee.code
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "tenantui: interrupted")
		return 1
	}
	fmt.Fprintln(stderr, "tenantui: "+oneLine(err.Error()))
	return 1
}

const topUsage = `tenantui — watch the AgentWrit broker keep tenants apart

Usage:
  tenantui [flags]          interactive console (default)
  tenantui run [flags]      headless run: the sample's transcript (--json for events)
  tenantui audit [flags]    print a broker's audit trail and verify its hash chain
  tenantui broker [flags]   standalone AgentWrit-compatible broker
  tenantui tour [flags]     guided tour for trainees (--lessons DIR, --solve)

Run "tenantui <command> -h" for a command's flags.
`
