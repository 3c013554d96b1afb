package broker

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// newDBHarness opens a broker on the database at path with the harness's
// fake clock (clock nil: a new one).
func newDBHarness(t *testing.T, path string, h0 *harness) *harness {
	t.Helper()
	clock := newFakeClock()
	if h0 != nil {
		clock = h0.clock
	}
	s, err := New(Config{AdminSecret: testSecret, Now: clock.Now, DBPath: path, DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &harness{t: t, s: s, clock: clock, h: s.Handler()}
}

// verifyChain checks every link of events from the genesis on.
func verifyChain(events []AuditEvent) error {
	prev := GenesisHash
	for i, e := range events {
		switch {
		case e.ID != eventID(i+1):
			return fmt.Errorf("event %d has id %s", i+1, e.ID)
		case e.PrevHash != prev:
			return fmt.Errorf("%s: prev_hash breaks the chain", e.ID)
		case e.computeHash() != e.Hash:
			return fmt.Errorf("%s: hash does not match its fields", e.ID)
		}
		prev = e.Hash
	}
	return nil
}

func TestPersistenceAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	h := newDBHarness(t, path, nil)
	if !h.s.Persistent() {
		t.Fatal("Persistent() = false with DBPath")
	}
	var health healthResponse
	h.do("GET", "/v1/health", "", nil).decode(t, &health)
	if !health.DBConnected {
		t.Fatal("health: db_connected false with a database")
	}
	creds := h.newApp("tenant-console", "read:data:*")
	appTok := h.appToken(creds)
	kept := h.register(h.launch("/v1/app/launch-tokens", appTok, map[string]any{"allowed_scope": []string{"read:data:a"}}),
		"o", "kept", "read:data:a")
	revoked := h.register(h.launch("/v1/app/launch-tokens", appTok, map[string]any{"allowed_scope": []string{"read:data:b"}}),
		"o", "revoked", "read:data:b")
	released := h.register(h.launch("/v1/app/launch-tokens", appTok, map[string]any{"allowed_scope": []string{"read:data:c"}}),
		"o", "released", "read:data:c")
	admin := h.adminToken()
	wantStatus(t, h.do("POST", "/v1/revoke", admin, map[string]string{"level": "agent", "target": revoked.ID}), 200)
	wantStatus(t, h.do("POST", "/v1/token/release", released.Token, nil), 204)
	deleg := h.delegate(kept.Token, released.ID, []string{"read:data:a"}, 0)
	wantStatus(t, deleg, 200)
	var d delegateResponse
	deleg.decode(t, &d)
	spent := h.adminLaunch(admin, []string{"read:data:x"}, nil)
	h.register(spent, "o", "spent", "read:data:x")
	unused := h.adminLaunch(admin, []string{"read:data:y"}, map[string]any{"ttl": 600})
	kid := h.s.KeyID()
	before := h.s.AuditEvents()
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := newDBHarness(t, path, h)
	if h2.s.KeyID() != kid {
		t.Fatalf("kid %s after restart, want %s (the stored signing key)", h2.s.KeyID(), kid)
	}
	for _, tc := range []struct {
		name, token string
		want        bool
	}{{"kept", kept.Token, true}, {"delegated", d.AccessToken, true}, {"revoked agent", revoked.Token, false},
		{"released", released.Token, false}} {
		if got := h2.valid(tc.token); got != tc.want {
			t.Errorf("%s token valid = %v after restart, want %v", tc.name, got, tc.want)
		}
	}
	h2.appToken(creds) // the app's credentials still log in (200 or fatal)
	wrong := creds
	wrong.ClientSecret = strings.Repeat("0", 64)
	wantStatus(t, h2.do("POST", "/v1/app/auth", "", map[string]string{"client_id": wrong.ClientID, "client_secret": wrong.ClientSecret}), 401)
	wantProblem(t, h2.do("POST", "/v1/register", "", registerBody(t, spent, h2.challenge(), newKey(t), "o", "again", []string{"read:data:x"})),
		401, "unauthorized", "launch token: launch token already consumed")
	h2.register(unused, "o", "late", "read:data:y") // issued before the restart, used after

	after := h2.s.AuditEvents()
	if len(after) <= len(before) {
		t.Fatalf("%d events after restart and more work, had %d", len(after), len(before))
	}
	for i, e := range before {
		if after[i] != e {
			t.Fatalf("event %d changed across the restart: %+v, want %+v", i+1, after[i], e)
		}
	}
	if next := after[len(before)]; next.PrevHash != before[len(before)-1].Hash {
		t.Fatalf("first event after restart (%s) does not chain to the last before it", next.ID)
	}
	if err := verifyChain(after); err != nil {
		t.Fatal(err)
	}
	geneses := 0
	for _, e := range after {
		if e.PrevHash == GenesisHash {
			geneses++
		}
	}
	if geneses != 1 {
		t.Fatalf("%d events start a chain, want 1", geneses)
	}
	// The reply of the audit route carries the whole continued chain too.
	var page auditResponse
	h2.do("GET", "/v1/audit/events?limit=1000", h2.adminToken(), nil).decode(t, &page)
	if page.Total != len(after)+1 { // + the admin login just made
		t.Fatalf("audit route total %d, want %d", page.Total, len(after)+1)
	}
}

// TestPersistentAppRotation: AppByName finds an app after a restart, and a
// rotated secret replaces the old one, also across a restart.
func TestPersistentAppRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	h := newDBHarness(t, path, nil)
	creds := h.newApp("sample-apps", "read:data:*")
	h.s.Close()

	h2 := newDBHarness(t, path, h)
	a, ok := h2.s.AppByName("sample-apps")
	if !ok || a.ClientID != creds.ClientID || !a.Active {
		t.Fatalf("AppByName after restart = %+v, %v; want client %s, active", a, ok, creds.ClientID)
	}
	rotated, err := h2.s.RotateSecret(a.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.ClientID != creds.ClientID || rotated.ClientSecret == creds.ClientSecret {
		t.Fatalf("rotation kept the secret or changed the client id: %v", rotated)
	}
	h2.s.Close()

	h3 := newDBHarness(t, path, h)
	wantStatus(t, h3.do("POST", "/v1/app/auth", "", map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret}), 401)
	h3.appToken(rotated)
	if ev := h3.events(evAppUpdated); len(ev) != 1 || !strings.Contains(ev[0].Detail, "rotated") {
		t.Fatalf("app_updated events %+v, want one rotation", ev)
	}
}

func TestDBInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	newDBHarness(t, path, nil)
	_, err := New(Config{DBPath: path})
	if !errors.Is(err, ErrDBInUse) {
		t.Fatalf("second broker on one database: %v, want ErrDBInUse", err)
	}
}

// TestDBTamperedChainRefused: an edited audit row stops New with the event
// that no longer verifies.
func TestDBTamperedChainRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	h := newDBHarness(t, path, nil)
	h.adminToken()
	h.newApp("some-app", "read:data:*")
	h.adminToken()
	h.s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET detail = 'nothing happened' WHERE id = 'evt-000002'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = New(Config{DBPath: path})
	if err == nil || !strings.Contains(err.Error(), "evt-000002: hash does not match its fields") {
		t.Fatalf("New on a tampered chain: %v", err)
	}
}

// crashEnv names the database a re-executed test binary writes to until it
// is killed (see TestCrashWriter).
const crashEnv = "TENANTUI_BROKER_CRASH_DB"

// TestCrashWriter is the subprocess of TestCrashLeavesVerifiableChain: with
// crashEnv set it writes state changes forever, printing a line after each
// committed one. Without it, it has nothing to do.
func TestCrashWriter(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return
	}
	s, err := New(Config{AdminSecret: testSecret, DBPath: path, DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: s, h: s.Handler()}
	admin := h.adminToken()
	priv := newKey(t)
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		lt := h.adminLaunch(admin, []string{"read:data:x"}, nil)
		body := registerBody(t, lt, h.challenge(), priv, "crash", fmt.Sprintf("t%d", i), []string{"read:data:x"})
		r := h.do("POST", "/v1/register", "", body)
		wantStatus(t, r, 200)
		var a registerResponse
		r.decode(t, &a)
		wantStatus(t, h.do("POST", "/v1/revoke", admin, map[string]string{"level": "token", "target": tokenClaims(t, a.AccessToken).Jti}), 200)
		fmt.Fprintln(out, i)
		out.Flush()
	}
}

// TestCrashLeavesVerifiableChain kills a writing broker with SIGKILL and
// checks that the database it leaves holds a chain that verifies end to
// end, and that every state change has its audit event and vice versa.
func TestCrashLeavesVerifiableChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for n := 0; n < 50; n++ {
		if !sc.Scan() {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("writer stopped after %d rounds: %v", n, sc.Err())
		}
	}
	// The writer is in the middle of its next rounds: kill it there.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct{ table, event string }{
		{"SELECT count(*) FROM launch_tokens", evLaunchTokenIssued},
		{"SELECT count(*) FROM agents", evAgentRegistered},
		{"SELECT count(*) FROM launch_tokens WHERE consumed = 1", evTokenIssued},
		{"SELECT count(*) FROM revocations", evTokenRevoked},
	} {
		rows := count(c.table)
		events := count("SELECT count(*) FROM audit_events WHERE event_type = '" + c.event + "'")
		if rows != events || rows < 50 {
			t.Errorf("%s = %d, %s events = %d: want equal, ≥ 50", c.table, rows, c.event, events)
		}
	}
	db.Close()

	s, err := New(Config{AdminSecret: testSecret, DBPath: path}) // verifies the stored chain
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := verifyChain(s.AuditEvents()); err != nil {
		t.Fatal(err)
	}
}

// TestDBWriteFailure: once a commit fails, the change is refused (500), the
// chain in memory does not run ahead of the database, later changes are
// refused too, and health says db_connected:false.
func TestDBWriteFailure(t *testing.T) {
	h := newDBHarness(t, filepath.Join(t.TempDir(), "broker.db"), nil)
	admin := h.adminToken()
	before := h.s.AuditEvents()
	h.s.db.db.Close() // the disk goes away
	wantProblem(t, h.do("POST", "/v1/revoke", admin, map[string]string{"level": "agent", "target": "x"}), 500, "internal_error", "revocation failed")
	wantProblem(t, h.do("POST", "/v1/admin/launch-tokens", admin, map[string]any{"agent_name": "a", "allowed_scope": []string{"read:data:x"}}),
		500, "internal_error", "failed to create launch token")
	if _, err := h.s.RegisterApp("late-app", []string{"read:data:*"}, 0); !errors.Is(err, errDB) {
		t.Fatalf("RegisterApp after a failed write: %v", err)
	}
	if after := h.s.AuditEvents(); len(after) != len(before) {
		t.Fatalf("%d events in memory after failed commits, want the %d committed", len(after), len(before))
	}
	var health healthResponse
	h.do("GET", "/v1/health", "", nil).decode(t, &health)
	if health.DBConnected {
		t.Fatal("health: db_connected true after a failed write")
	}
}
