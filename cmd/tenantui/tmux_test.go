package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
)

// TestConsoleInTmux drives the built binary in a real terminal (tmux): start,
// one stage, the isolation check, and a clean quit that releases the agent.
// CI installs tmux; elsewhere the test needs it too, unless it is absent and
// CI is not set.
func TestConsoleInTmux(t *testing.T) {
	t.Parallel() // a subprocess: waits, not CPU
	bin := builtBinary(t)
	dir := t.TempDir()
	tmux := tmuxServer(t, dir)
	script := bin + " --data " + filepath.Join(dir, "data") + " --reports " + filepath.Join(dir, "reports") +
		"; echo EXIT=$?; sleep 60"
	env := []string{"-e", "AGENTWRIT_BROKER_URL=", "-e", "TERM=xterm-256color"}
	tmux(append(append([]string{"new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30"}, env...), "sh", "-c", script)...)
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

// tmuxServer starts a private tmux server for the test (CI installs tmux;
// elsewhere the test needs it too, unless it is absent and CI is not set)
// and returns a function running tmux commands on it.
func tmuxServer(t *testing.T, dir string) func(args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (see .ci/run)")
		}
		t.Skip("tmux not installed")
	}
	sock := filepath.Join(dir, "tmux.sock")
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	return func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
}

// tmuxEnv is the environment a console in tmux needs to use the broker at
// url with creds, and no admin secret.
func tmuxEnv(url string, creds broker.AppCredentials) []string {
	return []string{"-e", "AGENTWRIT_BROKER_URL=" + url, "-e", "AGENTWRIT_CLIENT_ID=" + creds.ClientID,
		"-e", "AGENTWRIT_CLIENT_SECRET=" + creds.ClientSecret, "-e", "AGENTWRIT_ADMIN_SECRET=", "-e", "TERM=xterm-256color"}
}

// waitUntil polls cond until it holds or 20 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestConsoleClosedTerminalReleases closes the terminal (tmux kill-session:
// SIGHUP) under a console with three live agents: the broker must see all
// three released.
func TestConsoleClosedTerminalReleases(t *testing.T) {
	t.Parallel() // a subprocess: waits, not CPU
	bin := builtBinary(t)
	dir := t.TempDir()
	tmux := tmuxServer(t, dir)
	url, creds := externalBroker(t, nil)
	env := tmuxEnv(url, creds)
	script := "exec " + bin + " --data " + filepath.Join(dir, "data") + " --reports " + filepath.Join(dir, "reports")
	tmux(append(append([]string{"new-session", "-d", "-s", "hup", "-x", "100", "-y", "30"}, env...), script)...)
	screen := func() string { return tmux("capture-pane", "-p", "-t", "hup") }
	waitUntil(t, "the console starts", func() bool { return strings.Contains(screen(), "Tenants (3)") })
	for i, keys := range [][]string{{"Enter"}, {"j", "Enter"}, {"j", "Enter"}} {
		tmux(append([]string{"send-keys", "-t", "hup"}, keys...)...)
		live := []string{"1 agent live", "2 agents live", "3 agents live"}[i]
		waitUntil(t, live, func() bool { return strings.Contains(screen(), live) })
	}
	if live := brokerLive(t, url); len(live) != 3 {
		t.Fatalf("the broker shows %d live before the hang-up, want 3: %q", len(live), live)
	}
	tmux("kill-session", "-t", "hup")
	waitUntil(t, "the broker shows every agent released", func() bool { return len(brokerLive(t, url)) == 0 })
}

// TestConsoleSIGTERMDuringRunAll sends SIGTERM to the console while it runs
// 300 tenants: it must release everything, in flight included, and exit 0.
func TestConsoleSIGTERMDuringRunAll(t *testing.T) {
	t.Parallel() // a subprocess: waits, not CPU
	bin := builtBinary(t)
	dir := t.TempDir()
	tmux := tmuxServer(t, dir)
	url, creds := externalBroker(t, nil)
	env := tmuxEnv(url, creds)
	status := filepath.Join(dir, "status")
	script := bin + " --concurrency 8 --tenants " + catalogFile(t, 300) + " --data " + filepath.Join(dir, "data") +
		" --reports " + filepath.Join(dir, "reports") + "; echo $? > " + status + "; sleep 60"
	tmux(append(append([]string{"new-session", "-d", "-s", "term", "-x", "120", "-y", "36"}, env...), "sh", "-c", script)...)
	screen := func() string { return tmux("capture-pane", "-p", "-t", "term") }
	waitUntil(t, "the console starts", func() bool { return strings.Contains(screen(), "Tenants (300)") })
	tmux("send-keys", "-t", "term", "a")
	waitUntil(t, "agents registered", func() bool {
		evs, _ := brokerEvents(url)
		n := 0
		for _, e := range evs {
			if e.EventType == "agent_registered" {
				n++
			}
		}
		return n >= 20
	})
	shell, _ := strconv.Atoi(strings.TrimSpace(tmux("display-message", "-p", "-t", "term", "#{pane_pid}")))
	pid := childOf(t, shell)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var code []byte
	waitUntil(t, "the console exits", func() bool {
		code, _ = os.ReadFile(status)
		return len(code) > 0
	})
	if live := brokerLive(t, url); len(live) != 0 {
		t.Fatalf("after SIGTERM during run-all the broker shows %d live: %q\n%s", len(live), live, screen())
	}
	if c := strings.TrimSpace(string(code)); c != "0" {
		t.Fatalf("exit status %s, want 0\n%s", c, screen())
	}
}

// childOf is the pid of ppid's child process.
func childOf(t *testing.T, ppid int) int {
	t.Helper()
	var pid int
	waitUntil(t, "the console process", func() bool {
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			n, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state ppid …: comm may hold spaces, so split after ")".
			f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
			if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
				pid = n
				return true
			}
		}
		return false
	})
	return pid
}

func brokerEvents(url string) ([]agentwrit.AuditEvent, error) {
	adm, err := agentwrit.NewAdmin(url, "admin-secret-for-tests-0001")
	if err != nil {
		return nil, err
	}
	return adm.AllAuditEvents(context.Background(), agentwrit.AuditQuery{})
}
