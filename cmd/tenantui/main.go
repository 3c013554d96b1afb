// Command tenantui shows, live, how the AgentWrit credential broker keeps the
// tenants of a nightly multi-tenant ETL apart.
//
//	tenantui [flags]          the interactive console (default)
//	tenantui run [flags]      the headless run: the sample's transcript
//	tenantui audit [flags]    print a broker's audit trail and verify its chain
//	tenantui broker [flags]   a standalone AgentWrit-compatible broker
//	tenantui watch [flags]    follow any broker's agents live (--json: changes as JSON lines)
//	tenantui tour [flags]     the guided tour (--solve checks its lessons)
//
// Exit codes: 0 success, 1 a check failed or the run failed, 2 usage or
// configuration error (bad flags, bad catalog, unreachable broker, rejected
// credentials, not a terminal).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	in := watchInterrupts(stderr)
	defer in.stop()
	ctx := in.ctx
	cmd, rest := "console", args
	if len(args) > 0 {
		switch args[0] {
		case "run", "audit", "broker", "console", "watch", "tour":
			cmd, rest = args[0], args[1:]
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, topUsage)
			return 0
		}
	}
	var err error
	switch cmd {
	case "run":
		err = cmdRun(ctx, in, rest, stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, rest, stdout, stderr)
	case "broker":
		err = cmdBroker(ctx, rest, stdout, stderr)
	case "watch":
		err = cmdWatch(ctx, rest, stdout, stderr)
	case "tour": // the guided tour (tour.go)
		err = cmdTour(in, rest, stdout, stderr)
	default:
		err = cmdConsole(in, rest, stdout, stderr)
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
  tenantui watch [flags]    follow any broker's agents live (--json: changes as JSON lines)
  tenantui tour [flags]     guided tour for trainees (--lessons DIR, --solve)

Run "tenantui <command> -h" for a command's flags.
`
