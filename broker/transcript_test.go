package broker

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/conformance"
)

type recordedExchange = conformance.Exchange

// truncated marks values the recording shortened ("abc…(64 chars)").
func truncated(s string) bool { return strings.Contains(s, "…(") }

// valueKeys are compared by value in success bodies; other keys (ids,
// secrets, tokens, timestamps, counters) only by presence and JSON kind.
var valueKeys = map[string]bool{
	"expires_in": true, "token_type": true, "scopes": true, "scope": true, "version": true, "valid": true, "error": true,
	"allowed_scope": true, "max_ttl": true, "revoked": true, "level": true, "target": true, "count": true, "token_ttl": true,
	"name": true, "status": true, "offset": true, "limit": true, "iss": true, "sub": true, "task_id": true, "orch_id": true,
	"agent": true, "app_id": true, "client_id": true, "agent_id": true, "alg": true, "typ": true,
}

// idKeys hold run-specific ids, compared once the replay has learned them.
var idKeys = map[string]bool{"app_id": true, "client_id": true, "agent_id": true}

var reWholeSecond = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// shapeEqual compares want (recorded) and got (ours): same key sets and JSON
// kinds everywhere, values for valueKeys unless inside audit events (which
// come from a different history). Arrays are compared element-wise up to the
// shorter length.
func shapeEqual(t *testing.T, path string, want, got any, values bool, subst func(string) string) {
	t.Helper()
	kind := func(v any) string { return fmt.Sprintf("%T", v) }
	if kind(want) != kind(got) {
		t.Errorf("%s: kind %s, want %s (%v vs %v)", path, kind(got), kind(want), got, want)
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		wk, gk := slices.Sorted(mapsKeys(w)), slices.Sorted(mapsKeys(g))
		if !slices.Equal(wk, gk) {
			t.Errorf("%s: keys %v, want %v", path, gk, wk)
		}
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				v := values && k != "events"
				if s, ok := wv.(string); ok && idKeys[k] && subst(s) == s {
					v = false // an id first seen in this very reply
				}
				if v && valueKeys[k] {
					if s, ok := wv.(string); ok && !truncated(s) {
						wv = subst(s)
					}
					if s, ok := wv.(string); !ok || !truncated(s) {
						if !reflect.DeepEqual(substAll(wv, subst), gv) {
							t.Errorf("%s.%s = %v, want %v", path, k, gv, wv)
						}
					}
				}
				shapeEqual(t, path+"."+k, wv, gv, v, subst)
			}
		}
	case []any:
		g := got.([]any)
		if (len(w) == 0) != (len(g) == 0) {
			t.Errorf("%s: %d elements, want %d", path, len(g), len(w))
		}
		for i := range min(len(w), len(g)) {
			shapeEqual(t, fmt.Sprintf("%s[%d]", path, i), w[i], g[i], values, subst)
		}
	}
}

func mapsKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func substAll(v any, subst func(string) string) any {
	switch x := v.(type) {
	case string:
		return subst(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = substAll(x[i], subst)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = substAll(e, subst)
		}
		return out
	}
	return v
}

// TestTranscriptReplay replays the 56 exchanges recorded against the real
// v2.0.0 broker: error replies must match exactly (request_id aside), success
// replies in status, headers, key sets, JSON kinds and deterministic values.
//
// Health's db_connected (false in memory), uptime and audit counts differ
// from the recording's; only their shape is compared.
func TestTranscriptReplay(t *testing.T) { replayTranscript(t) }

// TestTranscriptReplayDB replays the transcript against a broker with a
// database: every state change goes through its transactions.
func TestTranscriptReplayDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	s := replayTranscript(t, func(c *Config) { c.DBPath = path })
	events := s.AuditEvents()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := New(Config{DBPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.AuditEvents(); len(got) != len(events) || len(events) == 0 || got[len(got)-1] != events[len(events)-1] {
		t.Fatalf("reopened: %d events, want the %d recorded", len(got), len(events))
	}
}

func replayTranscript(t *testing.T, mods ...func(*Config)) *Server {
	exchanges := conformance.Transcript(t)
	if len(exchanges) != 56 {
		t.Fatalf("%d exchanges, want 56", len(exchanges))
	}

	h := newHarness(t, mods...) // rate limits on: the recording ends with a 429 burst
	sample := h.newApp("sample-apps", "read:analytics:*", "write:reports:*", "read:data:*")
	mapping := map[string]string{"app-sample-apps-66def7": sample.AppID, "sa-a0f2d0bc8909": sample.ClientID}
	subst := func(s string) string {
		for from, to := range mapping {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}
	var (
		admin, app, clientSecret, lastLaunch, lastNonce string
		tok                                             = map[string]string{} // role → token
	)
	bearer := func(name string) string {
		switch {
		case strings.HasPrefix(name, "apps_"), name == "admin_token_on_app_route", strings.HasPrefix(name, "revoke_agent"),
			name == "revoke_bad_level", strings.HasPrefix(name, "audit_events"):
			return admin
		case strings.HasPrefix(name, "app_launch_token"), strings.HasPrefix(name, "launch_token"), name == "audit_with_app_token":
			return app
		case strings.HasPrefix(name, "delegate_"), name == "renew":
			return tok["hospital"]
		case name == "release", name == "release_again", name == "renew_released":
			return tok["hospital-renewed"]
		case name == "revoke_with_agent_token":
			return tok["bank"]
		}
		t.Fatalf("no bearer token for %s", name)
		return ""
	}
	validateToken := map[string]string{
		"validate_valid": "hospital", "validate_after_renew_old_token": "hospital", "validate_released": "hospital-renewed",
		"validate_after_revoke_agent": "bank", "validate_expired": "retail",
	}

	for i, ex := range exchanges {
		t.Run(fmt.Sprintf("%02d_%s", i, ex.Name), func(t *testing.T) {
			if ex.Name == "validate_expired" {
				h.clock.Advance(3 * time.Second) // the retail token lives 2 s
			}
			// Build the request, replacing truncated or run-specific values.
			var body any
			if len(ex.Request.Body) > 0 && string(ex.Request.Body) != "null" {
				var m map[string]any
				if err := json.Unmarshal(ex.Request.Body, &m); err != nil {
					t.Fatal(err)
				}
				for k, v := range m {
					s, ok := v.(string)
					if !ok {
						continue
					}
					switch {
					case k == "launch_token":
						m[k] = lastLaunch
					case k == "nonce":
						m[k] = lastNonce
					case k == "client_secret" && truncated(s):
						m[k] = clientSecret
					case k == "token" && truncated(s):
						m[k] = tok[validateToken[ex.Name]]
					default:
						m[k] = subst(s)
					}
				}
				if ex.Request.Path == "/v1/register" && ex.Name != "register_bank_bad_signature" {
					priv := newKey(t)
					m["public_key"], m["signature"] = pubB64(priv), signNonce(t, priv, lastNonce)
				}
				body = m
			}
			auth := ""
			if ex.Request.Auth != nil {
				auth = bearer(ex.Name)
			}
			r := h.do(ex.Request.Method, subst(ex.Request.Path), auth, body)

			// Status, content type, headers.
			want := ex.Response
			if r.Code != want.Status {
				t.Fatalf("status %d, want %d: %s", r.Code, want.Status, r.Body)
			}
			wantCT := ""
			if want.ContentType != nil {
				wantCT = *want.ContentType
			}
			if got := r.Header.Get("Content-Type"); got != wantCT {
				t.Fatalf("Content-Type %q, want %q", got, wantCT)
			}
			for k, v := range want.Headers {
				got := r.Header.Get(k)
				if k == "x-request-id" {
					if !reHex16.MatchString(got) {
						t.Errorf("X-Request-ID %q", got)
					}
				} else if got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if r.Header.Get("Retry-After") != "" && want.Headers["retry-after"] == "" {
				t.Error("unexpected Retry-After")
			}

			// Bodies.
			switch {
			case want.Status == 204:
				if len(r.Body) != 0 {
					t.Fatalf("204 body %q", r.Body)
				}
			case wantCT == "application/problem+json":
				if !slices.Equal(jsonKeys(t, r.Body), jsonKeys(t, want.Body)) {
					t.Fatalf("problem keys %v, want %v", jsonKeys(t, r.Body), jsonKeys(t, want.Body))
				}
				var got, exp map[string]any
				r.decode(t, &got)
				_ = json.Unmarshal(want.Body, &exp)
				if got["request_id"] != r.Header.Get("X-Request-ID") {
					t.Errorf("request_id %v != header", got["request_id"])
				}
				delete(got, "request_id")
				delete(exp, "request_id")
				if exp := substAll(exp, subst); !reflect.DeepEqual(got, exp) {
					t.Fatalf("problem\n got %v\nwant %v", got, exp)
				}
			default:
				var got, exp any
				r.decode(t, &got)
				_ = json.Unmarshal(want.Body, &exp)
				shapeEqual(t, "body", exp, got, true, subst)
			}

			// Learn run-specific values.
			var out map[string]any
			_ = json.Unmarshal(r.Body, &out)
			str := func(k string) string { s, _ := out[k].(string); return s }
			var rec map[string]any
			_ = json.Unmarshal(want.Body, &rec)
			recStr := func(k string) string { s, _ := rec[k].(string); return s }
			switch ex.Name {
			case "admin_auth":
				admin = str("access_token")
			case "apps_create":
				mapping[recStr("app_id")], mapping[recStr("client_id")] = str("app_id"), str("client_id")
				clientSecret = str("client_secret")
				if !reAppID.MatchString(str("app_id")) || !reClient.MatchString(str("client_id")) || !reHex64.MatchString(clientSecret) {
					t.Fatalf("formats %v", out)
				}
			case "app_auth":
				app = str("access_token")
			case "challenge":
				lastNonce = str("nonce")
			case "register_hospital", "register_bank", "register_retail":
				role := strings.TrimPrefix(ex.Name, "register_")
				tok[role] = str("access_token")
				if m := reSPIFFE.FindStringSubmatch(str("agent_id")); m == nil || m[2] != body.(map[string]any)["task_id"] {
					t.Errorf("agent_id %q", str("agent_id"))
				}
				mapping[recStr("agent_id")] = str("agent_id")
			case "renew":
				tok["hospital-renewed"] = str("access_token")
			}
			if strings.HasPrefix(ex.Name, "launch_token") {
				lastLaunch = str("launch_token")
				if !reWholeSecond.MatchString(str("expires_at")) {
					t.Errorf("expires_at %q", str("expires_at"))
				}
			}

			// Recorded token headers and claims.
			checkClaims := func(recorded json.RawMessage, token string) {
				if len(recorded) == 0 {
					return
				}
				_, payload := decodeJWT(t, token)
				if !slices.Equal(jsonKeys(t, payload), jsonKeys(t, recorded)) {
					t.Errorf("claim keys %v, want %v", jsonKeys(t, payload), jsonKeys(t, recorded))
				}
				var g, w any
				_ = json.Unmarshal(payload, &g)
				_ = json.Unmarshal(recorded, &w)
				shapeEqual(t, "claims", w, g, true, subst)
			}
			checkClaims(ex.AdminTokenClaims, str("access_token"))
			checkClaims(ex.AppTokenClaims, str("access_token"))
			checkClaims(ex.AgentTokenClaims, str("access_token"))
			if len(ex.AgentTokenHeader) > 0 {
				hdr, _ := decodeJWT(t, str("access_token"))
				var g, w map[string]any
				_ = json.Unmarshal(hdr, &g)
				_ = json.Unmarshal(ex.AgentTokenHeader, &w)
				if !slices.Equal(jsonKeys(t, hdr), jsonKeys(t, ex.AgentTokenHeader)) || g["kid"] != h.s.KeyID() || len(w["kid"].(string)) != len(h.s.KeyID()) {
					t.Errorf("header %s, recorded %s", hdr, ex.AgentTokenHeader)
				}
				shapeEqual(t, "header", w, g, true, subst)
			}
		})
	}
	return h.s
}
