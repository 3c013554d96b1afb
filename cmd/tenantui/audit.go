package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tenantui/tenantui/agentwrit"
)

// cmdAudit prints a broker's audit trail and verifies its hash chain.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	var af adminFlags
	af.register(fs)
	agent := fs.String("agent", "", "only events of this agent (SPIFFE ID)")
	task := fs.String("task", "", "only events of this task id")
	typ := fs.String("type", "", "only events of this type, e.g. token_released")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	admin, err := af.admin("audit", agentwrit.WithNotify(func(m string) { fmt.Fprintln(stderr, "tenantui: "+m) }))
	if err != nil {
		return err
	}
	all, err := admin.AllAuditEvents(ctx, agentwrit.AuditQuery{})
	if errors.As(err, new(*agentwrit.AuthenticationError)) {
		return usageErr("broker %s rejected the admin secret (check AGENTWRIT_ADMIN_SECRET)", af.url)
	}
	if err != nil {
		return usageErr("%s", describeConnErr(af.url, err))
	}
	for _, e := range all {
		if (*agent != "" && e.AgentID != *agent) || (*task != "" && e.TaskID != *task) || (*typ != "" && e.EventType != *typ) {
			continue
		}
		fmt.Fprintf(stdout, "%s %s %-28s %-8s %s\n", e.ID, e.Timestamp, e.EventType, e.Outcome, e.Detail)
	}
	if err := agentwrit.VerifyChain(all); err != nil {
		fmt.Fprintf(stdout, "chain broken: %s\n", oneLine(err.Error()))
		return failErr("audit hash chain is broken")
	}
	fmt.Fprintf(stdout, "chain verified, %d events\n", len(all))
	return nil
}
