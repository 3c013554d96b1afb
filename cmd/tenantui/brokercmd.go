package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/tenantui/tenantui/broker"
)

const defaultReleaseTimeout = 10 * time.Second

// cmdBroker runs a standalone AgentWrit-compatible broker until SIGINT/SIGTERM.
func cmdBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback by default)")
	sample := fs.Bool("sample-app", false, "register an app with the ceiling read:analytics:*, write:reports:* and print its credentials as shell exports")
	trust := fs.String("trust-domain", "agentwrit.local", "SPIFFE trust domain")
	noLimits := fs.Bool("no-rate-limits", false, "disable the login rate limits (testing only)")
	trustProxy := fs.Bool("trust-proxy", false, "key the login rate limits on the last X-Forwarded-For entry (only behind a reverse proxy that sets it)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageErr("--addr %q: %v", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(stderr, "tenantui: warning: listening on %s, which is not loopback\n", *addr)
	}
	secret := os.Getenv("AA_ADMIN_SECRET")
	generated := secret == ""
	if generated {
		secret = randomHex(24)
	}
	srv, err := broker.New(broker.Config{AdminSecret: secret, TrustDomain: *trust,
		DisableRateLimits: *noLimits, TrustProxy: *trustProxy})
	if err != nil {
		return usageErr("%v", err)
	}
	running, err := broker.Start(ctx, srv, *addr)
	if err != nil {
		return usageErr("cannot listen on %s: %s", *addr, oneLine(err.Error()))
	}
	defer running.Close()
	fmt.Fprintf(stdout, "# AgentWrit-compatible broker (tenantui) listening on %s\n", running.URL)
	if generated {
		// Printed once, on purpose: the operator needs it for admin calls.
		fmt.Fprintf(stdout, "# admin secret (generated; set AA_ADMIN_SECRET to choose one):\nexport AGENTWRIT_ADMIN_SECRET=%s\n", secret)
		// The broker's operator CLI (awrit) reads these names.
		fmt.Fprintf(stdout, "export AACTL_BROKER_URL=%s\nexport AACTL_ADMIN_SECRET=%s\n", running.URL, secret)
	} else {
		fmt.Fprintln(stdout, "# admin secret: from AA_ADMIN_SECRET")
	}
	if *sample {
		creds, err := srv.RegisterApp("sample-apps", AppCeiling, 1800)
		if err != nil {
			return failErr("register sample app: %v", err)
		}
		fmt.Fprintf(stdout, "export AGENTWRIT_BROKER_URL=%s\nexport AGENTWRIT_CLIENT_ID=%s\nexport AGENTWRIT_CLIENT_SECRET=%s\n",
			running.URL, creds.ClientID, creds.ClientSecret)
	}
	fmt.Fprintln(stdout, "# Ctrl+C to stop")
	<-ctx.Done()
	if err := running.Close(); err != nil {
		return failErr("shutdown: %v", err)
	}
	fmt.Fprintln(stderr, "tenantui: broker stopped")
	return nil
}
