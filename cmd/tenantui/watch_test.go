package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
)

func TestWatchUsageErrors(t *testing.T) {
	clearEnv(t)
	srv, err := broker.New(broker.Config{AdminSecret: "right-secret"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	for _, c := range []struct {
		name, secret string
		args         []string
		want         string
	}{
		{"no broker", "x", []string{"watch", "--json"}, "watch needs a broker"},
		{"no secret", "", []string{"watch", "--json", "--broker", hs.URL}, "AGENTWRIT_ADMIN_SECRET"},
		{"bad interval", "x", []string{"watch", "--json", "--broker", hs.URL, "--interval", "10ms"}, "--interval must be between 100ms and 1h"},
		{"bad flag", "x", []string{"watch", "--nope"}, "flag provided but not defined: -nope"},
		{"not a terminal", "x", []string{"watch", "--broker", hs.URL}, "not a terminal"},
		{"wrong secret", "wrong", []string{"watch", "--json", "--broker", hs.URL}, "rejected the admin secret"},
		{"unreachable", "x", []string{"watch", "--json", "--broker", "http://127.0.0.1:1"}, "broker unreachable at http://127.0.0.1:1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AGENTWRIT_ADMIN_SECRET", c.secret)
			code, out, errs := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 || out != "" {
				t.Fatalf("exit %d, stderr %q, stdout %q; want exit 2 and one line with %q", code, errs, out, c.want)
			}
			if strings.Contains(errs, "wrong") || strings.Contains(errs, "right-secret") {
				t.Fatalf("stderr shows a secret: %q", errs)
			}
		})
	}
}

// TestWatchJSON follows the embedded broker with --json while an agent is
// created and released, and stops cleanly when the context ends (SIGINT
// cancels it in run).
func TestWatchJSON(t *testing.T) {
	clearEnv(t)
	srv, err := broker.New(broker.Config{AdminSecret: "s3cret-for-tests"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := srv.RegisterApp("watch-json", AppCeiling, 1800)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	t.Setenv("AGENTWRIT_ADMIN_SECRET", "s3cret-for-tests")

	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- cmdWatch(ctx, []string{"--json", "--broker", hs.URL, "--interval", "100ms"}, pw, io.Discard)
		pw.Close()
	}()
	lines := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("not a JSON line: %q", sc.Text())
			}
			lines <- m
		}
		close(lines)
	}()
	expect := func(change string) map[string]any {
		t.Helper()
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q", change)
				}
				if m["change"] == change {
					return m
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %q line", change)
			}
		}
	}

	app, err := agentwrit.NewApp(hs.URL, creds.ClientID, creds.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	g, err := app.CreateAgent(ctx, "nightly-pipeline", "etl-bank", []string{"read:analytics:bank", "write:reports:bank"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := expect("registered")
	if m["agent"] != g.ID() || m["tenant"] != "bank" || m["state"] != "active" || m["jti"] != g.JTI() {
		t.Errorf("registered line %v", m)
	}
	if err := g.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if m := expect("released"); m["state"] != "released" || m["agent"] != g.ID() {
		t.Errorf("released line %v", m)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cmdWatch after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cmdWatch did not stop")
	}
}
