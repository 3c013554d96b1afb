package broker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Known vectors: the first is the real broker's evt-000001 (its recorded
// hash starts d3e56495edc8); both were computed independently of this code.
func TestEventHashVectors(t *testing.T) {
	got := EventHash(GenesisHash, "evt-000001", "2026-11-26T19:58:38.47373294Z", "admin_auth", "", "", "",
		"admin authenticated as admin", "", "success", 0, "", 0)
	if got != "d3e56495edc8c69cbecbb82138d08fbc08aa70d0fc611cd57af6d80e4a3acada" {
		t.Fatalf("evt-000001 hash %s", got)
	}
	got = EventHash(strings.Repeat("ab", 32), "evt-000002", "2026-11-26T20:00:02.287835008Z", "delegation_created",
		"spiffe://x/agent/o/t/1", "t", "o", "delegation from a to b scope=[r:d:x] depth=1", "", "success", 1, "cafe", 42)
	if got != "f438162fb8c3bd4e4c130f9734f163b1394fb97000032ccf6a7a724d55062453" {
		t.Fatalf("vector 2 hash %s", got)
	}
}

func TestMaskDetail(t *testing.T) {
	for in, want := range map[string]string{
		"client_secret=abc def":                        "client_secret=***REDACTED***",
		"Password: hunter2 = x":                        "Password: hunter2 =***REDACTED***",
		"password: hunter2":                            "password: ***REDACTED***",
		"PRIVATE_KEY=xyz":                              "PRIVATE_KEY=***REDACTED***",
		"token_value = abc":                            "token_value =***REDACTED***",
		"app=x client_secret=abc":                      "app=x client_secret=abc", // word after the first "="
		"launch token issued for agent=secret-agent":   "launch token issued for agent=secret-agent",
		"admin authenticated as admin":                 "admin authenticated as admin",
		"the secret is out":                            "the secret is out", // no separator
		"token verification failed: secret mismatch":   "token verification failed: secret mismatch",
		"my secret: is safe? no: it's ***REDACTED***x": "my secret: ***REDACTED***",
	} {
		if got := maskDetail(in); got != want {
			t.Errorf("maskDetail(%q) = %q, want %q", in, got, want)
		}
	}
	// Masking happens before hashing.
	h := newHarness(t)
	h.s.record(AuditEvent{EventType: "x", Detail: "secret=hunter2", Outcome: "success"})
	ev := h.lastEvent()
	if ev.Detail != "secret=***REDACTED***" || ev.Hash != ev.computeHash() {
		t.Fatalf("event %+v", ev)
	}
}

// auditPage fetches one page of GET /v1/audit/events.
func auditPage(t *testing.T, h *harness, admin string, q url.Values) (auditResponse, []json.RawMessage) {
	t.Helper()
	r := h.do("GET", "/v1/audit/events?"+q.Encode(), admin, nil)
	wantStatus(t, r, 200)
	var out auditResponse
	r.decode(t, &out)
	var raw struct {
		Events []json.RawMessage `json:"events"`
	}
	r.decode(t, &raw)
	return out, raw.Events
}

// scenario drives every event type once or more.
func scenario(t *testing.T, h *harness) (admin string, agents []testAgent) {
	t.Helper()
	h.do("POST", "/v1/admin/auth", "", `{"secret":"wrong"}`)
	admin = h.adminToken()
	c := h.newApp("tenant-console", "read:analytics:*", "write:reports:*")
	appTok := h.appToken(c)
	h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": c.ClientID, "client_secret": "bad"})
	h.do("PUT", "/v1/admin/apps/"+c.AppID, admin, `{"scopes":["read:analytics:*","write:reports:*"],"token_ttl":900}`)
	h.do("POST", "/v1/app/launch-tokens", appTok, `{"agent_name":"x","allowed_scope":["read:billing:x"]}`)
	h.do("POST", "/v1/app/launch-tokens", appTok, `{"allowed_scope":["read:analytics:x"]}`)
	for i, task := range []string{"etl-hospital", "etl-bank"} {
		h.clock.Advance(time.Duration(i+1) * 1500 * time.Millisecond)
		var lt launchTokenResponse
		h.do("POST", "/v1/app/launch-tokens", appTok, fmt.Sprintf(`{"agent_name":"p/%s","allowed_scope":["read:analytics:*"]}`, task)).decode(t, &lt)
		h.do("POST", "/v1/register", "", registerBody(t, lt.LaunchToken, h.challenge(), newKey(t), "p", task, []string{"read:analytics:*", "write:x:y"}))
		agents = append(agents, h.register(lt.LaunchToken, "p", task, "read:analytics:"+task))
	}
	h.delegate(agents[0].Token, agents[1].ID, []string{"read:analytics:bank"}, 0)
	h.delegate(agents[0].Token, agents[1].ID, []string{"read:analytics:etl-hospital"}, 0)
	h.do("POST", "/v1/token/renew", agents[1].Token, nil)
	h.do("POST", "/v1/token/release", agents[0].Token, nil)
	h.do("POST", "/v1/token/release", agents[0].Token, nil)
	h.do("POST", "/v1/token/release", "", nil)
	h.serve(func() *http.Request {
		r := newRequest("POST", "/v1/token/renew", "", nil)
		r.Header.Set("Authorization", "Basic x")
		return r
	}())
	h.do("GET", "/v1/audit/events", appTok, nil)
	h.do("POST", "/v1/revoke", admin, map[string]string{"level": "task", "target": "etl-bank"})
	h.do("DELETE", "/v1/admin/apps/"+c.AppID, admin, nil)
	return admin, agents
}

// §12 and §8: the whole chain verifies when paged through unfiltered.
func TestAuditChainEndToEnd(t *testing.T) {
	h := newHarness(t)
	admin, _ := scenario(t, h)
	var all []AuditEvent
	var raws []json.RawMessage
	for offset := 0; ; offset += 7 {
		page, raw := auditPage(t, h, admin, url.Values{"limit": {"7"}, "offset": {strconv.Itoa(offset)}})
		if page.Offset != offset || page.Limit != 7 {
			t.Fatalf("page header %+v", page)
		}
		all = append(all, page.Events...)
		raws = append(raws, raw...)
		if len(page.Events) < 7 {
			if page.Total != len(all) {
				t.Fatalf("total %d, paged %d", page.Total, len(all))
			}
			break
		}
	}
	types := map[string]bool{}
	prev := GenesisHash
	for i, e := range all {
		types[e.EventType] = true
		if e.ID != fmt.Sprintf("evt-%06d", i+1) || !reEventID.MatchString(e.ID) {
			t.Fatalf("event %d id %s", i, e.ID)
		}
		if e.PrevHash != prev {
			t.Fatalf("%s prev_hash %s, want %s", e.ID, e.PrevHash, prev)
		}
		want := EventHash(e.PrevHash, e.ID, e.Timestamp, e.EventType, e.AgentID, e.TaskID, e.OrchID, e.Detail, e.Resource, e.Outcome,
			e.DelegDepth, e.DelegChainHash, e.BytesTransferred)
		if e.Hash != want || !reHex64.MatchString(e.Hash) {
			t.Fatalf("%s hash %s, recomputed %s", e.ID, e.Hash, want)
		}
		prev = e.Hash
		ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
		if err != nil || ts.Location() != time.UTC || e.Timestamp != ts.Format(time.RFC3339Nano) || !strings.HasSuffix(e.Timestamp, "Z") {
			t.Fatalf("%s timestamp %q", e.ID, e.Timestamp)
		}
		if frac, ok := strings.CutPrefix(e.Timestamp[19:], "."); ok && strings.HasSuffix(strings.TrimSuffix(frac, "Z"), "0") {
			t.Fatalf("%s timestamp %q keeps trailing zeros", e.ID, e.Timestamp)
		}
		// Optional fields are omitted when empty; detail, hash and prev_hash never are.
		var m map[string]any
		_ = json.Unmarshal(raws[i], &m)
		for _, k := range []string{"agent_id", "task_id", "orch_id", "resource", "outcome", "deleg_depth", "deleg_chain_hash", "bytes_transferred"} {
			if v, ok := m[k]; ok && (v == "" || v == 0.0) {
				t.Fatalf("%s: empty %s present", e.ID, k)
			}
		}
		keys := jsonKeys(t, raws[i])
		if keys[0] != "id" || keys[1] != "timestamp" || keys[2] != "event_type" || !slices.Contains(keys, "detail") ||
			keys[len(keys)-2] != "hash" || keys[len(keys)-1] != "prev_hash" {
			t.Fatalf("%s key order %v", e.ID, keys)
		}
	}
	for _, want := range []string{evAdminAuth, evAdminAuthFailed, evAppRegistered, evAppAuthenticated, evAppAuthFailed, evAppUpdated,
		evAppDeregistered, evLaunchTokenIssued, evLaunchTokenDenied, evScopeCeilingExceeded, evRegistrationViolation, evAgentRegistered,
		evTokenIssued, evTokenRenewed, evTokenReleased, evTokenRevoked, evDelegationCreated, evDelegationViolation, evTokenAuthFailed, evScopeViolation} {
		if !types[want] {
			t.Errorf("scenario produced no %s event", want)
		}
	}
	// The API view equals the in-process view, and a tampered event is detected.
	if len(all) != len(h.s.AuditEvents()) {
		t.Fatal("AuditEvents differs from the API")
	}
	tampered := all[3]
	tampered.Detail += "!"
	if tampered.computeHash() == tampered.Hash {
		t.Fatal("modified detail not detected")
	}
	// Health counts the events.
	var hr healthResponse
	h.do("GET", "/v1/health", "", nil).decode(t, &hr)
	if hr.AuditEventsCount != len(all) {
		t.Fatalf("audit_events_count %d, want %d", hr.AuditEventsCount, len(all))
	}
}

// §8: token_auth_failed and scope_violation details.
func TestPipelineAuditEvents(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	a := h.agent(admin, "o", "t", "r:d:x")
	cases := []struct {
		auth, path string
		code       int
		want       AuditEvent
	}{
		{"", "/v1/token/renew", 401, AuditEvent{EventType: evTokenAuthFailed, Detail: "missing authorization header | path=/v1/token/renew"}},
		{"bearer " + a.Token, "/v1/delegate", 401, AuditEvent{EventType: evTokenAuthFailed, Detail: "invalid authorization scheme | path=/v1/delegate"}},
		{"Bearer  " + a.Token, "/v1/delegate", 401, AuditEvent{EventType: evTokenAuthFailed, Detail: "token verification failed: invalid token format | path=/v1/delegate"}},
		{"Bearer garbage", "/v1/revoke", 401, AuditEvent{EventType: evTokenAuthFailed, Detail: "token verification failed: invalid token format | path=/v1/revoke"}},
		{"Bearer " + a.Token, "/v1/revoke", 403, AuditEvent{EventType: evScopeViolation, AgentID: a.ID, TaskID: "t", OrchID: "o",
			Detail: "scope_violation | required=admin:revoke:* | actual=r:d:x | path=/v1/revoke"}},
	}
	for _, tc := range cases {
		req := newRequest("POST", tc.path, "", `{}`)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		r := h.serve(req)
		wantStatus(t, r, tc.code)
		got := h.lastEvent()
		tc.want.Resource, tc.want.Outcome = tc.path, "denied"
		got.ID, got.Timestamp, got.Hash, got.PrevHash, got.at = "", "", "", "", time.Time{}
		if got != tc.want {
			t.Errorf("%s %q: event %+v, want %+v", tc.path, tc.auth, got, tc.want)
		}
	}
	// Validate, challenge, nonce/signature failures and 429s write nothing.
	n := len(h.s.AuditEvents())
	h.valid("garbage")
	h.do("POST", "/v1/register", "", registerBody(t, h.adminLaunch(admin, []string{"r:d:x"}, nil), strings.Repeat("0", 64), newKey(t), "o", "t", []string{"r:d:x"}))
	if got := len(h.s.AuditEvents()); got != n+1 { // only the launch token issuance
		t.Fatalf("%d new events, want 1", got-n)
	}
}

// §12: audit filters, paging, total, ordering; app token 403.
func TestAuditQuery(t *testing.T) {
	h := newHarness(t)
	admin, agents := scenario(t, h)
	all := h.s.AuditEvents()
	q := func(kv ...string) (auditResponse, []json.RawMessage) {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return auditPage(t, h, admin, v)
	}
	count := func(pred func(AuditEvent) bool) int {
		n := 0
		for _, e := range all {
			if pred(e) {
				n++
			}
		}
		return n
	}
	page, _ := q()
	if page.Limit != 100 || page.Offset != 0 || page.Total != len(all) || len(page.Events) != len(all) || page.Events[0].ID != "evt-000001" {
		t.Fatalf("default page %+v", page)
	}
	for _, f := range []struct{ key, val string }{
		{"event_type", evTokenReleased}, {"outcome", "denied"}, {"agent_id", agents[0].ID}, {"task_id", "etl-bank"}, {"event_type", "nope"},
	} {
		page, _ := q(f.key, f.val)
		want := count(func(e AuditEvent) bool {
			return map[string]string{"event_type": e.EventType, "outcome": e.Outcome, "agent_id": e.AgentID, "task_id": e.TaskID}[f.key] == f.val
		})
		if page.Total != want || len(page.Events) != want {
			t.Errorf("%s=%s: total %d / %d events, want %d", f.key, f.val, page.Total, len(page.Events), want)
		}
		if want > 0 && f.val != "" {
			for i := 1; i < len(page.Events); i++ {
				if page.Events[i].ID <= page.Events[i-1].ID {
					t.Fatalf("not oldest first")
				}
			}
		}
	}
	if page, _ := q("event_type", evTokenReleased, "outcome", "success", "task_id", "etl-hospital"); page.Total != 1 {
		t.Fatalf("combined filters total %d", page.Total)
	}
	// Empty result is [] not null.
	r := h.do("GET", "/v1/audit/events?event_type=nope", admin, nil)
	if !strings.Contains(string(r.Body), `"events":[]`) {
		t.Fatalf("empty page %s", r.Body)
	}
	// since/until are inclusive RFC 3339 bounds; unparseable ones are ignored.
	mid := all[len(all)/2]
	since := func(e AuditEvent) bool { return !e.at.Before(mid.at) }
	if page, _ := q("since", mid.Timestamp); page.Total != count(since) || page.Events[0].Timestamp != firstWith(all, since).Timestamp {
		t.Fatalf("since: total %d, want %d", page.Total, count(since))
	}
	until := func(e AuditEvent) bool { return !e.at.After(mid.at) }
	if page, _ := q("until", mid.Timestamp); page.Total != count(until) {
		t.Fatalf("until: total %d, want %d", page.Total, count(until))
	}
	if page, _ := q("since", mid.Timestamp, "until", mid.Timestamp); page.Total != count(func(e AuditEvent) bool { return e.at.Equal(mid.at) }) || page.Total == 0 {
		t.Fatalf("since=until=%s total %d", mid.Timestamp, page.Total)
	}
	if page, _ := q("since", "yesterday", "until", "2026-13-01"); page.Total != len(all) {
		t.Fatal("unparseable bounds must be ignored")
	}
	if page, _ := q("since", "2030-01-01T00:00:00Z"); page.Total != 0 {
		t.Fatal("future since")
	}
	// Paging: limit as sent (capped at 1000 internally), offset as sent.
	if page, _ := q("limit", "3", "offset", "2"); len(page.Events) != 3 || page.Events[0].ID != "evt-000003" || page.Limit != 3 || page.Offset != 2 || page.Total != len(all) {
		t.Fatalf("limit 3 offset 2: %+v", page)
	}
	if page, _ := q("limit", "abc", "offset", "x"); page.Limit != 100 || page.Offset != 0 {
		t.Fatalf("non-numbers: %+v", page)
	}
	if page, _ := q("limit", "-4", "offset", "-2"); page.Limit != 100 || page.Offset != -2 || len(page.Events) != len(all) {
		t.Fatalf("negatives: limit %d offset %d", page.Limit, page.Offset)
	}
	if page, _ := q("offset", strconv.Itoa(len(all))); len(page.Events) != 0 || page.Total != len(all) {
		t.Fatalf("offset past end: %+v", page)
	}
	if page, _ := q("limit", "5000"); page.Limit != 5000 || len(page.Events) != len(all) {
		t.Fatalf("limit 5000: %+v", page)
	}
	for range 1100 {
		h.s.record(AuditEvent{EventType: "filler", Detail: "x", Outcome: "success"})
	}
	if page, _ := q("limit", "5000"); len(page.Events) != 1000 || page.Limit != 5000 {
		t.Fatalf("cap: %d events, limit %d", len(page.Events), page.Limit)
	}
	if page, _ := q("limit", "0"); len(page.Events) != 100 {
		t.Fatalf("limit 0: %d events", len(page.Events))
	}
	// Only admin:audit:* grants access; app:audit:read grants nothing.
	c := h.newApp("auditor", "r:d:x")
	wantProblem(t, h.do("GET", "/v1/audit/events?limit=1", h.appToken(c), nil), 403, "insufficient_scope", "token lacks required scope: admin:audit:*")
}

func firstWith(all []AuditEvent, pred func(AuditEvent) bool) AuditEvent {
	for _, e := range all {
		if pred(e) {
			return e
		}
	}
	return AuditEvent{}
}

// Event ids are "evt-" and at least six digits, as fmt's %06d gives them,
// and a long event's hash is the same as a short one's would be computed.
func TestEventIDAndLongEventHash(t *testing.T) {
	for _, n := range []int{1, 42, 999999, 1000000, 12345678} {
		if got, want := eventID(n), fmt.Sprintf("evt-%06d", n); got != want {
			t.Errorf("eventID(%d) = %q, want %q", n, got, want)
		}
	}
	long := strings.Repeat("detail ", 200) // beyond the stack buffer
	sum := sha256.Sum256([]byte(GenesisHash + "|evt-000001|ts|type|a|t|o|" + long + "|r|success|2|h|77"))
	if got, want := EventHash(GenesisHash, "evt-000001", "ts", "type", "a", "t", "o", long, "r", "success", 2, "h", 77), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("long event hash %s, want %s", got, want)
	}
}

// The chunked event store keeps order and content across chunk boundaries.
func TestEventChunks(t *testing.T) {
	var l eventChunks
	var want []AuditEvent
	for i := 0; len(want) < 2*eventChunk+7; i++ {
		batch := make([]AuditEvent, 1+i%3) // batches straddle chunk ends
		for j := range batch {
			batch[j] = AuditEvent{ID: eventID(len(want) + j + 1)}
		}
		l.append(batch...)
		want = append(want, batch...)
	}
	if l.len() != len(want) {
		t.Fatalf("len %d, want %d", l.len(), len(want))
	}
	for i := range want {
		if l.at(i).ID != want[i].ID {
			t.Fatalf("at(%d) = %s, want %s", i, l.at(i).ID, want[i].ID)
		}
	}
	if got := l.copy(); !slices.EqualFunc(got, want, func(a, b AuditEvent) bool { return a.ID == b.ID }) {
		t.Fatal("copy differs")
	}
	n := 0
	for e := range l.all() {
		if e.ID != want[n].ID {
			t.Fatalf("all: event %d is %s", n, e.ID)
		}
		if n++; n == eventChunk+1 {
			break
		}
	}
	if n != eventChunk+1 {
		t.Fatalf("all stopped after %d", n)
	}
}
