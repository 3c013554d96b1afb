package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --log writes every event: exactly the event lines `run --json` prints, in
// the same order, the isolation matrix's included.
func TestRunLogWritesEveryEvent(t *testing.T) {
	clearEnv(t)
	logPath := filepath.Join(t.TempDir(), "events.jsonl")
	code, out, errs := runCLI(t, append([]string{"run", "--json", "--matrix", "--log", logPath}, dirs(t)...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, `{"seq":`) {
			want = append(want, l)
		}
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(want) < 50 {
		t.Fatalf("only %d events on stdout", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("log has %d lines, stdout %d events", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d:\nlog:    %s\nstdout: %s", i+1, got[i], want[i])
		}
	}
}

// A log that cannot be created is a usage error, before anything runs.
func TestRunLogUnwritable(t *testing.T) {
	clearEnv(t)
	code, _, errs := runCLI(t, append([]string{"run", "--log", filepath.Join(t.TempDir(), "no", "such", "dir", "x.jsonl")}, dirs(t)...)...)
	if code != 2 || !strings.Contains(errs, "x.jsonl: open: no such file or directory") || !strings.HasPrefix(errs, "tenantui: --log: event log ") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}
