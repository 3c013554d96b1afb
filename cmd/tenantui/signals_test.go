package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/internal/liveaudit"
)

// The built binary, shared by the tests that run it as a user would.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// builtBinary builds tenantui once per test run.
func builtBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "tenantui-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "tenantui")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// catalogFile writes a catalog of n small tenants.
func catalogFile(t *testing.T, n int) string {
	t.Helper()
	kinds := []string{"hospital", "bank", "retail"}
	var cat struct {
		Tenants []map[string]any `json:"tenants"`
	}
	for i := range n {
		cat.Tenants = append(cat.Tenants, map[string]any{"id": fmt.Sprintf("t%03d", i), "kind": kinds[i%3], "rows": 50})
	}
	b, _ := json.Marshal(cat)
	p := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// brokerLive is what the broker's own audit shows as live.
func brokerLive(t *testing.T, url string) []string {
	t.Helper()
	adm, err := agentwrit.NewAdmin(url, "admin-secret-for-tests-0001")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := adm.AllAuditEvents(context.Background(), agentwrit.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return liveaudit.Live(evs)
}

// TestHeadlessSignalReleasesEverything interrupts `tenantui run` of 60
// tenants with each exit signal at a random point (after k events): the
// process must exit 0 having released everything, by the broker's audit.
func TestHeadlessSignalReleasesEverything(t *testing.T) {
	t.Parallel() // a subprocess: waits, not CPU
	bin := builtBinary(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	cat := catalogFile(t, 60)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		k := 5 + rng.IntN(150)
		t.Run(fmt.Sprintf("%v_after_%d_events", sig, k), func(t *testing.T) {
			url, creds := externalBroker(t, nil)
			d := t.TempDir()
			cmd := exec.Command(bin, "run", "--json", "--tenants", cat, "--concurrency", "8",
				"--data", filepath.Join(d, "data"), "--reports", filepath.Join(d, "reports"))
			cmd.Env = append(os.Environ(), "AGENTWRIT_BROKER_URL="+url, "AGENTWRIT_CLIENT_ID="+creds.ClientID,
				"AGENTWRIT_CLIENT_SECRET="+creds.ClientSecret, "AGENTWRIT_ADMIN_SECRET=")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			n := 0
			for n < k && sc.Scan() {
				n++
			}
			cmd.Process.Signal(sig)
			for sc.Scan() { // drain
			}
			err = cmd.Wait()
			if err != nil {
				t.Fatalf("seed %d: exit %v after %v at event %d; stderr:\n%s", seed, err, sig, k, stderr.String())
			}
			if !strings.Contains(stderr.String(), "none left live") {
				t.Fatalf("seed %d: stderr must say nothing is left live:\n%s", seed, stderr.String())
			}
			if live := brokerLive(t, url); len(live) != 0 {
				t.Fatalf("seed %d: after %v at event %d the broker shows %d live: %q", seed, sig, k, len(live), live)
			}
		})
	}
}

// TestHeadlessSecondSignalExitsAtOnce: on a broker that freezes, the first
// SIGTERM starts the release, which cannot finish; the second exits at once
// with exit 1 and says what stays live.
func TestHeadlessSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel() // a subprocess: waits, not CPU
	bin := builtBinary(t)
	wrap, releaseSeen, unfreeze := freezeOn("/v1/token/release")
	url, creds := externalBroker(t, wrap)
	t.Cleanup(unfreeze)
	d := t.TempDir()
	cmd := exec.Command(bin, "run", "--json", "--tenants", catalogFile(t, 30), "--concurrency", "4",
		"--data", filepath.Join(d, "data"), "--reports", filepath.Join(d, "reports"))
	cmd.Env = append(os.Environ(), "AGENTWRIT_BROKER_URL="+url, "AGENTWRIT_CLIENT_ID="+creds.ClientID,
		"AGENTWRIT_CLIENT_SECRET="+creds.ClientSecret, "AGENTWRIT_ADMIN_SECRET=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"agent_created"`) {
			break // agents are live now
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	// Wait until the release has reached the (frozen) broker, then again.
	waitUntil(t, "a release reaches the frozen broker", releaseSeen.Load)
	cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for sc.Scan() {
		}
	}()
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted again: exiting now") || !strings.Contains(stderr.String(), "stay live until their TTL") {
		t.Fatalf("stderr must say what stays live:\n%s", stderr.String())
	}
}

// freezeOn wraps a broker so that every request to path hangs until
// unfreeze; seen says one arrived.
func freezeOn(path string) (wrap func(http.Handler) http.Handler, seen *atomic.Bool, unfreeze func()) {
	frozen := make(chan struct{})
	var once sync.Once
	seen = &atomic.Bool{}
	wrap = func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == path {
				seen.Store(true)
				<-frozen
			}
			h.ServeHTTP(w, r)
		})
	}
	return wrap, seen, func() { once.Do(func() { close(frozen) }) }
}

// TestRunSmallCatalogs: two tenants verify isolation with distinct tenants
// (no "hospital cannot write hospital reports"); one tenant runs what
// applies and says isolation needs two.
func TestRunSmallCatalogs(t *testing.T) {
	clearEnv(t)
	write := func(ids ...string) string {
		var cat struct {
			Tenants []map[string]any `json:"tenants"`
		}
		kinds := []string{"hospital", "bank", "retail"}
		for i, id := range ids {
			cat.Tenants = append(cat.Tenants, map[string]any{"id": id, "kind": kinds[i%3], "rows": 30})
		}
		b, _ := json.Marshal(cat)
		p := filepath.Join(t.TempDir(), "c.json")
		os.WriteFile(p, b, 0o644)
		return p
	}
	code, out, errs := runCLI(t, append([]string{"run", "--tenants", write("hospital", "bank")}, dirs(t)...)...)
	if code != 0 || !strings.Contains(out, "Cross-tenant isolation verified.") {
		t.Fatalf("two tenants: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"[BLOCKED] Hospital agent cannot read bank data", "[BLOCKED] Hospital agent cannot write bank reports",
		"[ALLOWED] Hospital agent can read its own data", "[BLOCKED] Bank agent cannot write hospital reports", "no third tenant"} {
		if !strings.Contains(out, want) {
			t.Fatalf("two tenants: no %q in\n%s", want, out)
		}
	}
	code, out, errs = runCLI(t, append([]string{"run", "--tenants", write("solo")}, dirs(t)...)...)
	if code != 0 || !strings.Contains(out, "Cross-tenant isolation not checked: isolation needs two tenants") ||
		strings.Contains(out, "isolation verified") || !strings.Contains(out, "[ALLOWED] Solo agent can read its own data") {
		t.Fatalf("one tenant: exit %d\n%s\n%s", code, out, errs)
	}
}
