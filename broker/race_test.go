package broker

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentRegistrations exercises the shared state from many
// goroutines at once; run it with -race. Helpers that call t.Fatal are kept
// out of the goroutines.
func TestConcurrentRegistrations(t *testing.T) { concurrentRegistrations(t) }

// TestConcurrentRegistrationsDB is the same with a database, where
// concurrent changes share commits: reopened, the database holds exactly
// the chain the broker served.
func TestConcurrentRegistrationsDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	h := concurrentRegistrations(t, func(c *Config) { c.DBPath = path })
	served := h.s.AuditEvents()
	h.s.Close()
	s, err := New(Config{DBPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !slices.Equal(s.AuditEvents(), served) {
		t.Fatalf("reopened database: %d events, served %d, or they differ", len(s.AuditEvents()), len(served))
	}
}

func concurrentRegistrations(t *testing.T, mods ...func(*Config)) *harness {
	h := newHarness(t, append([]func(*Config){noLimits}, mods...)...)
	admin := h.adminToken()
	const agents, apps = 32, 8
	ids := make([]string, agents)
	var dupOK atomic.Int32
	var wg sync.WaitGroup
	for i := range agents {
		wg.Go(func() {
			r := h.do("POST", "/v1/admin/launch-tokens", admin, fmt.Sprintf(`{"agent_name":"a%d","allowed_scope":["read:data:*"]}`, i))
			var lt launchTokenResponse
			if r.Code != 201 || json.Unmarshal(r.Body, &lt) != nil {
				t.Errorf("launch token: %d %s", r.Code, r.Body)
				return
			}
			var ch challengeResponse
			_ = json.Unmarshal(h.do("GET", "/v1/challenge", "", nil).Body, &ch)
			priv := newKey(t)
			r = h.do("POST", "/v1/register", "", registerBody(t, lt.LaunchToken, ch.Nonce, priv, "orch", fmt.Sprintf("task-%d", i%4), []string{"read:data:x"}))
			var reg registerResponse
			if r.Code != 200 || json.Unmarshal(r.Body, &reg) != nil {
				t.Errorf("register: %d %s", r.Code, r.Body)
				return
			}
			ids[i] = reg.AgentID
			if r := h.do("POST", "/v1/token/renew", reg.AccessToken, nil); r.Code != 200 {
				t.Errorf("renew: %d %s", r.Code, r.Body)
			}
			if r := h.do("GET", "/v1/audit/events?limit=10&event_type=agent_registered", admin, nil); r.Code != 200 {
				t.Errorf("audit: %d", r.Code)
			}
		})
	}
	for i := range apps {
		wg.Go(func() {
			if _, err := h.s.RegisterApp(fmt.Sprintf("app-%d", i), []string{"read:data:*"}, 0); err != nil {
				t.Errorf("RegisterApp: %v", err)
			}
			if _, err := h.s.RegisterApp("contended", []string{"read:data:*"}, 0); err == nil {
				dupOK.Add(1)
			}
			h.do("GET", "/v1/admin/apps", admin, nil)
			h.do("POST", "/v1/revoke", admin, fmt.Sprintf(`{"level":"task","target":"other-%d"}`, i))
		})
	}
	wg.Wait()
	if dupOK.Load() != 1 {
		t.Fatalf("%d registrations of one name succeeded", dupOK.Load())
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("missing or duplicate agent id %q", id)
		}
		seen[id] = true
	}
	if n := len(h.events(evAgentRegistered)); n != agents {
		t.Fatalf("%d agent_registered events", n)
	}
	prev := GenesisHash
	for i, e := range h.s.AuditEvents() {
		if e.ID != fmt.Sprintf("evt-%06d", i+1) || e.PrevHash != prev || e.Hash != e.computeHash() {
			t.Fatalf("chain broken at %d: %+v", i, e)
		}
		prev = e.Hash
	}
	var list appListResponse
	h.do("GET", "/v1/admin/apps", admin, nil).decode(t, &list)
	if list.Total != apps+1 {
		t.Fatalf("%d apps", list.Total)
	}
	return h
}
