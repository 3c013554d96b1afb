package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantui/tenantui/broker"
)

// clearEnv makes sure the embedded broker is used unless a test sets the
// AgentWrit variables itself.
func clearEnv(t *testing.T) {
	for _, k := range []string{"AGENTWRIT_BROKER_URL", "AGENTWRIT_CLIENT_ID", "AGENTWRIT_CLIENT_SECRET", "AGENTWRIT_ADMIN_SECRET"} {
		t.Setenv(k, "")
	}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func dirs(t *testing.T) []string {
	d := t.TempDir()
	return []string{"--data", filepath.Join(d, "data"), "--reports", filepath.Join(d, "reports")}
}

func TestHeadlessTranscript(t *testing.T) {
	clearEnv(t)
	d := dirs(t)
	code, out, errs := runCLI(t, append([]string{"run", "--matrix", "--audit"}, d...)...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{
		"Nightly Analytics Pipeline", "── Metro Health System (hospital) ──", "── First National Bank (bank) ──",
		"── ShopWave Corp (retail) ──", "Agent: spiffe://agentwrit.local/agent/nightly-pipeline/etl-hospital-",
		"Scope: ['read:analytics:hospital', 'write:reports:hospital']", "Expires: 300s",
		"[EXTRACT] Pulled patient analytics: 12,847 rows from ", "[TRANSFORM] Processed data for report: {'patient_visits': '12,847'",
		"[LOAD] Report written to " + filepath.Join(d[3], "hospital", "latest.json"), "[RELEASE] Agent released for hospital",
		"── Cross-Tenant Isolation Test ──", "Hospital agent scope: ['read:analytics:hospital', 'write:reports:hospital']",
		"[BLOCKED] Hospital agent cannot read bank data", "[BLOCKED] Hospital agent cannot write retail reports",
		"[ALLOWED] Hospital agent can read its own data ✓", "[BLOCKED] Bank agent cannot write hospital reports",
		"Required: ['read:analytics:bank']", "Store:    DENY (bank store, token validated by the broker)",
		"Cross-tenant isolation verified.", "18 probes, 0 decided wrongly", "chain verified,",
		"Pipeline complete. All tenants processed with isolated scopes.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	// Tenants appear in catalog order.
	if h, b, r := strings.Index(out, "(hospital) ──"), strings.Index(out, "(bank) ──"), strings.Index(out, "(retail) ──"); !(h < b && b < r) {
		t.Error("tenants out of order")
	}
	for _, tn := range []string{"hospital", "bank", "retail"} {
		if _, err := os.Stat(filepath.Join(d[3], tn, "latest.json")); err != nil {
			t.Error(err)
		}
	}
}

func TestHeadlessJSON(t *testing.T) {
	clearEnv(t)
	code, out, errs := runCLI(t, append([]string{"run", "--json"}, dirs(t)...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	kinds := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		kinds[m["kind"].(string)]++
		if strings.Contains(sc.Text(), "eyJ") && !strings.Contains(sc.Text(), "…") {
			t.Fatalf("full token in output: %s", sc.Text())
		}
	}
	if kinds["agent_created"] < 5 || kinds["report_written"] != 3 || kinds["decision"] < 10 || kinds["complete"] != 1 {
		t.Fatalf("kinds: %v", kinds)
	}
}

// --concurrency 0 (the default) is 16 with the embedded broker, 4 with
// another; any other value is kept.
func TestConcurrencyAutomatic(t *testing.T) {
	cases := []struct {
		flag int
		mode string
		want int
	}{
		{0, "embedded", embeddedConcurrency},
		{0, "external", remoteConcurrency},
		{3, "embedded", 3},
		{32, "external", 32},
	}
	for _, c := range cases {
		cm := common{concurrency: c.flag}
		if got := cm.concurrencyFor(&session{Mode: c.mode}); got != c.want {
			t.Errorf("--concurrency %d with a %s broker: %d, want %d", c.flag, c.mode, got, c.want)
		}
	}
	if embeddedConcurrency == remoteConcurrency {
		t.Fatal("the two defaults are the same: nothing to choose")
	}
}

func TestBadInputOneLine(t *testing.T) {
	clearEnv(t)
	catalog := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(catalog, []byte(`{"tenants":[{"id":"a"},{"id":"a"}]}`), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--ttl", "nope"}, `invalid value "nope" for flag -ttl`},
		{[]string{"run", "--ttl", "0"}, "--ttl must be between 1 and 86400"},
		{[]string{"run", "--scale", "2"}, "--scale must be in (0, 1]"},
		{[]string{"run", "--concurrency", "-1"}, "--concurrency must be between 1 and 256 (0: automatic)"},
		{[]string{"run", "--concurrency", "257"}, "--concurrency must be between 1 and 256 (0: automatic)"},
		{[]string{"run", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"run", "extra"}, `unexpected argument "extra"`},
		{[]string{"run", "--tenants", catalog}, `tenant #2 ("a"): duplicate id`},
		{[]string{"run", "--tenants", "/nonexistent/x.json"}, "no such file"},
		{[]string{"console"}, "not a terminal"},
		{[]string{"broker", "--addr", "nonsense"}, "--addr"},
		{[]string{"audit"}, "AGENTWRIT_ADMIN_SECRET"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "tenantui: ") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", c.args, code, errs, c.want)
		}
	}
}

func TestUnreachableBroker(t *testing.T) {
	clearEnv(t)
	t.Setenv("AGENTWRIT_BROKER_URL", "http://127.0.0.1:1")
	t.Setenv("AGENTWRIT_CLIENT_ID", "tc-000000000000")
	t.Setenv("AGENTWRIT_CLIENT_SECRET", "s3cr3t-never-shown")
	code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
	if code != 2 || !strings.Contains(errs, "unreachable") || strings.Count(errs, "\n") != 1 || strings.Contains(errs, "s3cr3t") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

func TestMissingCredentials(t *testing.T) {
	clearEnv(t)
	code, _, errs := runCLI(t, append([]string{"run", "--broker", "http://127.0.0.1:1"}, dirs(t)...)...)
	if code != 2 || !strings.Contains(errs, "AGENTWRIT_CLIENT_ID") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

// externalBroker serves our broker over loopback as an external one, with an
// app registered; wrap may intercept requests.
func externalBroker(t *testing.T, wrap func(http.Handler) http.Handler) (url string, creds broker.AppCredentials) {
	t.Helper()
	srv, err := broker.New(broker.Config{AdminSecret: "admin-secret-for-tests-0001", DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	creds, err = srv.RegisterApp("tenant-console", AppCeiling, 1800)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL, creds
}

// rewriteJSON lets edit change the JSON replies to path before the client
// sees them: a broker that lies, for the tests that must catch it.
func rewriteJSON(path string, edit func(map[string]any)) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			var body map[string]any
			json.Unmarshal(rec.Body.Bytes(), &body)
			edit(body)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(body)
		})
	}
}

func useExternal(t *testing.T, url, id, secret string) {
	clearEnv(t)
	t.Setenv("AGENTWRIT_BROKER_URL", url)
	t.Setenv("AGENTWRIT_CLIENT_ID", id)
	t.Setenv("AGENTWRIT_CLIENT_SECRET", secret)
}

func TestWrongCredentials(t *testing.T) {
	url, creds := externalBroker(t, nil)
	useExternal(t, url, creds.ClientID, "wrong-secret-value")
	code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
	if code != 2 || !strings.Contains(errs, "rejected the app credentials") || strings.Contains(errs, "wrong-secret-value") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

func TestExternalBrokerAndAudit(t *testing.T) {
	url, creds := externalBroker(t, nil)
	useExternal(t, url, creds.ClientID, creds.ClientSecret)
	code, out, errs := runCLI(t, append([]string{"run", "--audit"}, dirs(t)...)...)
	// No admin secret: the run works, the audit is unavailable (exit 1, said plainly).
	if code != 1 || !strings.Contains(errs, "audit unavailable: AGENTWRIT_ADMIN_SECRET is not set") || !strings.Contains(out, "(external, AgentWrit 2.0.0)") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	t.Setenv("AGENTWRIT_ADMIN_SECRET", "admin-secret-for-tests-0001")
	code, out, errs = runCLI(t, "audit", "--type", "token_released")
	if code != 0 || !strings.Contains(out, "chain verified") || strings.Count(out, "token_released") < 3 {
		t.Fatalf("audit: exit %d\n%s\n%s", code, out, errs)
	}
}

func TestRateLimitedLoginWaits(t *testing.T) {
	var once sync.Once
	var logins atomic.Int32
	url, creds := externalBroker(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			limited := false
			if r.URL.Path == "/v1/app/auth" {
				logins.Add(1)
				once.Do(func() { limited = true })
			}
			if limited {
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"type":"urn:agentwrit:error:rate_limited","title":"Too Many Requests","status":429,"detail":"rate limit exceeded, try again later","instance":"/v1/app/auth","error_code":"rate_limited","request_id":"0000000000000000"}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	useExternal(t, url, creds.ClientID, creds.ClientSecret)
	// The wait itself (Retry-After, on the client's clock) is tested in
	// agentwrit; here: the user is told, the login is tried again, and the
	// run succeeds.
	code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
	if code != 0 || !strings.Contains(errs, "rate") || logins.Load() != 2 {
		t.Fatalf("exit %d, %d logins, stderr %q", code, logins.Load(), errs)
	}
}

// TestIsolationFailureExits1 uses a broker whose validation claims a wildcard
// scope for every token: the stores then let the hospital read the bank, and
// the run must say so and exit 1.
func TestIsolationFailureExits1(t *testing.T) {
	url, creds := externalBroker(t, rewriteJSON("/v1/token/validate", func(body map[string]any) {
		if claims, ok := body["claims"].(map[string]any); ok {
			claims["scope"] = []string{"read:analytics:*", "write:reports:*"}
		}
	}))
	useExternal(t, url, creds.ClientID, creds.ClientSecret)
	code, out, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
	if code != 1 || !strings.Contains(out, "FAIL: Hospital agent cannot read bank data") || !strings.Contains(errs, "isolation FAILED") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestStandaloneBrokerSampleApp(t *testing.T) {
	clearEnv(t)
	t.Setenv("AA_ADMIN_SECRET", "")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cmdBroker(ctx, []string{"--addr", "127.0.0.1:0", "--sample-app"}, pw, io.Discard)
		pw.Close()
	}()
	env := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			env[k] = v
		}
		if strings.HasPrefix(line, "# Ctrl+C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if env["AACTL_BROKER_URL"] != env["AGENTWRIT_BROKER_URL"] || env["AACTL_ADMIN_SECRET"] != env["AGENTWRIT_ADMIN_SECRET"] {
		t.Fatalf("operator CLI lines disagree: %v", env)
	}
	for _, k := range []string{"AGENTWRIT_BROKER_URL", "AGENTWRIT_CLIENT_ID", "AGENTWRIT_CLIENT_SECRET", "AGENTWRIT_ADMIN_SECRET"} {
		if env[k] == "" {
			t.Fatalf("no %s line; got %v", k, env)
		}
		t.Setenv(k, env[k])
	}
	code, out, errs := runCLI(t, append([]string{"run", "--audit"}, dirs(t)...)...)
	if code != 0 || !strings.Contains(out, "Cross-tenant isolation verified.") || !strings.Contains(out, "chain verified") {
		t.Fatalf("run against standalone broker: exit %d\n%s\n%s", code, out, errs)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("broker stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("broker did not stop on cancel")
	}
}

// TestAuditDetectsTamperedChain serves a trail in which one event's detail
// was altered after hashing: `tenantui audit` must say where and exit 1.
func TestAuditDetectsTamperedChain(t *testing.T) {
	url, creds := externalBroker(t, rewriteJSON("/v1/audit/events", func(page map[string]any) {
		if evs, ok := page["events"].([]any); ok && len(evs) > 2 {
			evs[1].(map[string]any)["detail"] = "nothing to see here"
		}
	}))
	useExternal(t, url, creds.ClientID, creds.ClientSecret)
	if code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	t.Setenv("AGENTWRIT_ADMIN_SECRET", "admin-secret-for-tests-0001")
	code, out, errs := runCLI(t, "audit")
	if code != 1 || !strings.Contains(out, "chain broken") || !strings.Contains(out, "evt-000002") || !strings.Contains(errs, "audit hash chain is broken") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}
