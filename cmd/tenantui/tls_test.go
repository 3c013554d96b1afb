package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/internal/testpki"
)

// brokerOut is what `tenantui broker` printed before "# Ctrl+C to stop":
// its export lines, expanded as a shell would, and its comments.
type brokerOut struct {
	env      map[string]string
	comments []string
}

// startBrokerCmd runs `tenantui broker args...` until the test ends (or
// stop is called) and returns what it printed at start.
func startBrokerCmd(t *testing.T, args ...string) (brokerOut, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cmdBroker(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	out := brokerOut{env: map[string]string{}}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			out.env[k] = os.ExpandEnv(strings.Trim(v, `"`))
		} else {
			out.comments = append(out.comments, line)
		}
		if strings.HasPrefix(line, "# Ctrl+C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("broker %v: %v", args, err)
			}
		case <-time.After(10 * time.Second):
			t.Error("broker did not stop on cancel")
		}
	}
	t.Cleanup(stop)
	if len(out.comments) == 0 || !strings.HasPrefix(out.comments[len(out.comments)-1], "# Ctrl+C") {
		stop()
		t.Fatalf("broker %v did not start: %v", args, out.comments)
	}
	return out, stop
}

func (b brokerOut) said(s string) bool {
	for _, c := range b.comments {
		if strings.Contains(c, s) {
			return true
		}
	}
	return false
}

// paste sets the printed variables, as pasting the export lines would.
func (b brokerOut) paste(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		v, ok := b.env[k]
		if !ok || v == "" {
			t.Fatalf("no export line for %s: %v", k, b.env)
		}
		t.Setenv(k, v)
	}
}

// clearTLSEnv unsets the client TLS variables.
func clearTLSEnv(t *testing.T) {
	for _, k := range []string{"AGENTWRIT_CA_CERT", "AGENTWRIT_CLIENT_CERT", "AGENTWRIT_CLIENT_KEY", "AA_ADMIN_SECRET"} {
		t.Setenv(k, "")
	}
}

// wantOneLine2 checks a configuration error: exit 2, one line containing
// every want.
func wantOneLine2(t *testing.T, what string, code int, errs string, want ...string) {
	t.Helper()
	ok := code == 2 && strings.Count(errs, "\n") == 1 && strings.HasPrefix(errs, "tenantui: ")
	for _, w := range want {
		ok = ok && strings.Contains(errs, w)
	}
	if !ok {
		t.Errorf("%s: exit %d, stderr %q; want 2 and one line with %q", what, code, errs, want)
	}
}

// bundle writes the leaf then the CA into one file, as a certificate chain.
func bundle(t *testing.T, leaf, ca string) string {
	t.Helper()
	a, err := os.ReadFile(leaf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "chain.pem")
	if err := os.WriteFile(p, append(a, b...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStandaloneBrokerTLS: the broker over HTTPS prints https:// and the CA
// to trust; pasted, they make a run work; without the CA the run says which
// variable to set.
func TestStandaloneBrokerTLS(t *testing.T) {
	clearEnv(t)
	clearTLSEnv(t)
	ca := testpki.NewCA(t, "private")
	srv := ca.Server("broker")
	chain := bundle(t, srv.CertFile, ca.CertFile)

	// Leaf only: the CA is private and not in the file.
	out, stop := startBrokerCmd(t, "--addr", "127.0.0.1:0", "--tls-cert", srv.CertFile, "--tls-key", srv.KeyFile)
	if !out.said("CA is private: export AGENTWRIT_CA_CERT=<") || !strings.HasPrefix(out.env["AACTL_BROKER_URL"], "https://127.0.0.1:") {
		t.Errorf("leaf-only certificate: %v %v", out.comments, out.env)
	}
	stop()

	out, _ = startBrokerCmd(t, "--addr", "127.0.0.1:0", "--tls-cert", chain, "--tls-key", srv.KeyFile, "--sample-app")
	url := out.env["AGENTWRIT_BROKER_URL"]
	if !strings.HasPrefix(url, "https://127.0.0.1:") || out.env["AGENTWRIT_CA_CERT"] != chain || !out.said("(TLS)") {
		t.Fatalf("export lines %v, comments %v", out.env, out.comments)
	}
	out.paste(t, "AGENTWRIT_BROKER_URL", "AGENTWRIT_CLIENT_ID", "AGENTWRIT_CLIENT_SECRET", "AGENTWRIT_ADMIN_SECRET")

	code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
	wantOneLine2(t, "run without the CA", code, errs, "TLS certificate not trusted", "set AGENTWRIT_CA_CERT (or --ca-cert)")
	code, _, errs = runCLI(t, "audit")
	wantOneLine2(t, "audit without the CA", code, errs, "set AGENTWRIT_CA_CERT")

	code, out2, errs := runCLI(t, "audit", "--ca-cert", ca.CertFile) // the flag alone will do
	if code != 0 || !strings.Contains(out2, "chain verified") {
		t.Fatalf("audit --ca-cert: exit %d\n%s\n%s", code, out2, errs)
	}
	out.paste(t, "AGENTWRIT_CA_CERT")
	code, out2, errs = runCLI(t, append([]string{"run", "--audit"}, dirs(t)...)...)
	if code != 0 || !strings.Contains(out2, "Cross-tenant isolation verified.") || !strings.Contains(out2, "chain verified") {
		t.Fatalf("run over TLS: exit %d\n%s\n%s", code, out2, errs)
	}

	// Every reply carries HSTS, as the real broker's in TLS mode.
	tc, err := agentwrit.LoadTLSConfig(agentwrit.TLSFiles{CACert: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Fatalf("Strict-Transport-Security = %q", got)
	}
	if resp.TLS == nil {
		t.Fatal("health reply not over TLS")
	}
}

// TestStandaloneBrokerMTLS: with --client-ca a client must present a
// certificate that CA signed; each way of getting it wrong gets one line
// that says what to set.
func TestStandaloneBrokerMTLS(t *testing.T) {
	clearEnv(t)
	clearTLSEnv(t)
	ca, other := testpki.NewCA(t, "corp"), testpki.NewCA(t, "other")
	srv, client, stranger, second := ca.Server("broker"), ca.Client("tenantui"), other.Client("stranger"), ca.Client("second")
	out, _ := startBrokerCmd(t, "--addr", "127.0.0.1:0", "--tls-cert", srv.CertFile, "--tls-key", srv.KeyFile,
		"--client-ca", ca.CertFile, "--sample-app")
	// The server certificate was signed by the client CA: that file is the one to trust.
	if out.env["AGENTWRIT_CA_CERT"] != ca.CertFile || !out.said("(mTLS)") || !out.said("AGENTWRIT_CLIENT_CERT=<client certificate>") {
		t.Fatalf("export lines %v, comments %v", out.env, out.comments)
	}
	out.paste(t, "AGENTWRIT_BROKER_URL", "AGENTWRIT_CLIENT_ID", "AGENTWRIT_CLIENT_SECRET", "AGENTWRIT_ADMIN_SECRET", "AGENTWRIT_CA_CERT")

	for _, tc := range []struct {
		what      string
		cert, key string
		want      []string
	}{
		{"no client certificate", "", "", []string{"requires mTLS", "AGENTWRIT_CLIENT_CERT and AGENTWRIT_CLIENT_KEY"}},
		{"certificate of another CA", stranger.CertFile, stranger.KeyFile, []string{"rejected the client certificate", "AGENTWRIT_CLIENT_CERT"}},
		{"mismatched key", client.CertFile, second.KeyFile, []string{"--client-cert", "AGENTWRIT_CLIENT_KEY", "private key does not match public key"}},
		{"unreadable key", client.CertFile, "/nonexistent/key.pem", []string{"/nonexistent/key.pem: no such file or directory"}},
		{"certificate without key", client.CertFile, "", []string{"give both"}},
	} {
		t.Setenv("AGENTWRIT_CLIENT_CERT", tc.cert)
		t.Setenv("AGENTWRIT_CLIENT_KEY", tc.key)
		code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
		wantOneLine2(t, tc.what, code, errs, tc.want...)
	}
	t.Setenv("AGENTWRIT_CLIENT_CERT", "")
	t.Setenv("AGENTWRIT_CLIENT_KEY", "")
	code, out2, errs := runCLI(t, append([]string{"run", "--audit", "--client-cert", client.CertFile, "--client-key", client.KeyFile}, dirs(t)...)...)
	if code != 0 || !strings.Contains(out2, "Cross-tenant isolation verified.") || !strings.Contains(out2, "chain verified") {
		t.Fatalf("run over mTLS: exit %d\n%s\n%s", code, out2, errs)
	}
}

func TestStandaloneBrokerBadFlags(t *testing.T) {
	clearEnv(t)
	clearTLSEnv(t)
	ca := testpki.NewCA(t, "ca")
	a, b := ca.Server("a"), ca.Server("b")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "refusing plain HTTP on 0.0.0.0:0, which is not loopback"},
		{[]string{"--addr", "192.0.2.7:8080"}, "give --tls-cert and --tls-key, or --insecure"},
		{[]string{"--tls-cert", a.CertFile}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", a.CertFile, "--tls-key", b.KeyFile}, "private key does not match public key"},
		{[]string{"--client-ca", ca.CertFile}, "--client-ca needs --tls-cert"},
		{[]string{"--tls-cert", a.CertFile, "--tls-key", a.KeyFile, "--client-ca", "/nonexistent/ca.pem"}, "--client-ca /nonexistent/ca.pem: no such file"},
		{[]string{"--sample-app", "--rotate-secret"}, "--rotate-secret needs --sample-app and --db"},
		{[]string{"--db", t.TempDir()}, "--db"}, // a directory is no database
	} {
		code, _, errs := runCLI(t, append([]string{"broker"}, c.args...)...)
		wantOneLine2(t, strings.Join(c.args, " "), code, errs, c.want)
	}
}

// TestStandaloneBrokerPersists: with --db the sample app, its secret, the
// audit chain and the health's db_connected survive restarts; the admin
// secret from AA_ADMIN_SECRET is exported by reference.
func TestStandaloneBrokerPersists(t *testing.T) {
	clearEnv(t)
	clearTLSEnv(t)
	t.Setenv("AA_ADMIN_SECRET", "operator-chosen-admin-secret-42")
	db := filepath.Join(t.TempDir(), "broker.db")
	args := []string{"--addr", "127.0.0.1:0", "--db", db, "--sample-app"}

	out, stop := startBrokerCmd(t, args...)
	if !out.said("# admin secret: from AA_ADMIN_SECRET") || out.env["AGENTWRIT_ADMIN_SECRET"] != "operator-chosen-admin-secret-42" ||
		!out.said("0 audit events, chain verified") {
		t.Fatalf("first start: %v %v", out.env, out.comments)
	}
	first := out.env
	out.paste(t, "AGENTWRIT_BROKER_URL", "AGENTWRIT_CLIENT_ID", "AGENTWRIT_CLIENT_SECRET", "AGENTWRIT_ADMIN_SECRET")
	if code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, errs)
	}
	_, audit1, _ := runCLI(t, "audit")
	stop()

	out, stop = startBrokerCmd(t, args...)
	if out.env["AGENTWRIT_CLIENT_ID"] != first["AGENTWRIT_CLIENT_ID"] || out.env["AGENTWRIT_CLIENT_SECRET"] != "" ||
		!out.said("AGENTWRIT_CLIENT_SECRET: printed when the app was created") {
		t.Fatalf("restart: %v %v", out.env, out.comments)
	}
	out.paste(t, "AGENTWRIT_BROKER_URL") // a new port; the old secret still works
	c, err := agentwrit.NewClient(out.env["AGENTWRIT_BROKER_URL"])
	if err != nil {
		t.Fatal(err)
	}
	if h, err := c.Health(context.Background()); err != nil || !h.DBConnected {
		t.Fatalf("health after restart: %+v, %v; want db_connected true", h, err)
	}
	if code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...); code != 0 {
		t.Fatalf("run after restart with the first secret: exit %d: %s", code, errs)
	}
	code, audit2, _ := runCLI(t, "audit")
	n1, n2 := chainLength(t, audit1), chainLength(t, audit2)
	if code != 0 || n2 <= n1 || !strings.HasPrefix(audit2, strings.Join(strings.Split(audit1, "\n")[:n1], "\n")) {
		t.Fatalf("audit after restart: exit %d, %d events (had %d), the old ones must lead unchanged\n%s", code, n2, n1, audit2)
	}
	stop()

	out, _ = startBrokerCmd(t, append(args, "--rotate-secret")...)
	if out.env["AGENTWRIT_CLIENT_SECRET"] == "" || out.env["AGENTWRIT_CLIENT_SECRET"] == first["AGENTWRIT_CLIENT_SECRET"] {
		t.Fatalf("rotation: %v", out.env)
	}
	out.paste(t, "AGENTWRIT_BROKER_URL")
	code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
	wantOneLine2(t, "old secret after rotation", code, errs, "rejected the app credentials")
	out.paste(t, "AGENTWRIT_CLIENT_SECRET")
	if code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...); code != 0 {
		t.Fatalf("run with the rotated secret: exit %d: %s", code, errs)
	}
}

var chainVerified = regexp.MustCompile(`chain verified, (\d+) events`)

func chainLength(t *testing.T, audit string) int {
	t.Helper()
	m := chainVerified.FindStringSubmatch(audit)
	if m == nil {
		t.Fatalf("no chain verification in\n%s", audit)
	}
	n := 0
	for _, c := range m[1] {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestAdminSecretRejectedAtStart: a wrong AGENTWRIT_ADMIN_SECRET is said
// once, up front, and turns revoke and audit off instead of failing later.
func TestAdminSecretRejectedAtStart(t *testing.T) {
	url, creds := externalBroker(t, nil)
	useExternal(t, url, creds.ClientID, creds.ClientSecret)
	t.Setenv("AGENTWRIT_ADMIN_SECRET", "not-the-admin-secret")
	code, _, errs := runCLI(t, append([]string{"run", "--audit"}, dirs(t)...)...)
	if code != 1 || !strings.Contains(errs, "admin secret rejected: revoke and audit disabled (check AGENTWRIT_ADMIN_SECRET)") ||
		!strings.Contains(errs, "audit unavailable: admin secret rejected") || strings.Contains(errs, "not-the-admin-secret") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

// TestHTTPToHTTPSBroker: an http:// URL for a broker that serves HTTPS.
func TestHTTPToHTTPSBroker(t *testing.T) {
	clearEnv(t)
	clearTLSEnv(t)
	ca := testpki.NewCA(t, "ca")
	srv := ca.Server("broker")
	out, _ := startBrokerCmd(t, "--addr", "127.0.0.1:0", "--tls-cert", srv.CertFile, "--tls-key", srv.KeyFile, "--sample-app")
	useExternal(t, strings.Replace(out.env["AGENTWRIT_BROKER_URL"], "https://", "http://", 1), out.env["AGENTWRIT_CLIENT_ID"], out.env["AGENTWRIT_CLIENT_SECRET"])
	code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
	wantOneLine2(t, "http:// to HTTPS", code, errs, "serves HTTPS: use an https:// URL")
}

// TestTLSWrongHost: a certificate that does not name the URL's host says so.
func TestTLSWrongHost(t *testing.T) {
	clearEnv(t)
	clearTLSEnv(t)
	ca := testpki.NewCA(t, "ca")
	srv := ca.Server("broker") // names 127.0.0.1, ::1 and localhost
	out, _ := startBrokerCmd(t, "--addr", "127.0.0.2:0", "--tls-cert", srv.CertFile, "--tls-key", srv.KeyFile, "--sample-app")
	if !strings.HasPrefix(out.env["AGENTWRIT_BROKER_URL"], "https://127.0.0.2:") || !out.said("does not name this host: clients will refuse it") {
		t.Fatalf("export lines %v, comments %v", out.env, out.comments)
	}
	useExternal(t, out.env["AGENTWRIT_BROKER_URL"], out.env["AGENTWRIT_CLIENT_ID"], out.env["AGENTWRIT_CLIENT_SECRET"])
	t.Setenv("AGENTWRIT_CA_CERT", ca.CertFile)
	code, _, errs := runCLI(t, append([]string{"run"}, dirs(t)...)...)
	wantOneLine2(t, "wrong host", code, errs, "does not name this host", "127.0.0.2")
}

// TestAuditWrongAdminSecret: `tenantui audit` names the admin secret.
func TestAuditWrongAdminSecret(t *testing.T) {
	url, creds := externalBroker(t, nil)
	useExternal(t, url, creds.ClientID, creds.ClientSecret)
	t.Setenv("AGENTWRIT_ADMIN_SECRET", "not-the-admin-secret")
	code, _, errs := runCLI(t, "audit")
	wantOneLine2(t, "audit", code, errs, "rejected the admin secret (check AGENTWRIT_ADMIN_SECRET)")
}
