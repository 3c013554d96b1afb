package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsoleInTmux drives the built binary in a real terminal (tmux): start,
// one stage, the isolation check, and a clean quit that releases the agent.
// CI installs tmux; elsewhere the test needs it too, unless it is absent and
// CI is not set.
func TestConsoleInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (see .ci/run)")
		}
		t.Skip("tmux not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tenantui")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "tmux.sock")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	script := bin + " --data " + filepath.Join(dir, "data") + " --reports " + filepath.Join(dir, "reports") +
		"; echo EXIT=$?; sleep 60"
	env := []string{"-e", "AGENTWRIT_BROKER_URL=", "-e", "TERM=xterm-256color"}
	tmux(append(append([]string{"new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30"}, env...), "sh", "-c", script)...)
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })

	screen := func() string { return tmux("capture-pane", "-p", "-t", "e2e") }
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(screen(), what) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("screen never showed %q; last screen:\n%s", what, screen())
	}
	waitFor("Tenants (3)")
	waitFor("Metro Health System")
	tmux("send-keys", "-t", "e2e", "Enter") // create the hospital's agent
	waitFor("ACTIVE")
	waitFor("expires in")
	tmux("send-keys", "-t", "e2e", "i")
	waitFor("Cross-tenant isolation verified.")
	tmux("send-keys", "-t", "e2e", "q")
	waitFor("EXIT=")
	after := screen()
	if !strings.Contains(after, "EXIT=0") || !strings.Contains(after, "released 1 agent, none left live") {
		t.Fatalf("after quit:\n%s", after)
	}
}
