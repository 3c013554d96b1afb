package broker

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fuzzFixture is a fresh server with ready tokens, built without testing.TB
// so it can be made per fuzz iteration (revocations must not leak between runs).
type fuzzFixture struct {
	s                           *Server
	admin, app, agentTok, appID string
	agentID                     string
}

func newFuzzFixture() fuzzFixture {
	clock := newFakeClock()
	s, err := New(Config{AdminSecret: testSecret, DisableRateLimits: true, Now: clock.Now})
	if err != nil {
		panic(err)
	}
	c, err := s.RegisterApp("fixture-app", []string{"read:data:*", "write:data:*"}, 0)
	if err != nil {
		panic(err)
	}
	f := fuzzFixture{s: s, appID: c.AppID, agentID: "spiffe://agentwrit.local/agent/o/t/0123456789abcdef"}
	f.admin, _ = s.mint(claims{Sub: "admin", Scope: adminScopes}, 300)
	f.app, _ = s.mint(claims{Sub: "app:" + c.AppID, Scope: appScopes}, 300)
	f.agentTok, _ = s.mint(claims{Sub: f.agentID, Scope: []string{"read:data:*"}, TaskID: "t", OrchID: "o"}, 300)
	s.agents[f.agentID] = &agent{id: f.agentID, scope: []string{"read:data:*"}, taskID: "t", orchID: "o"}
	return f
}

// expand replaces placeholders so fuzzed bodies can reach deep handler code:
// $LT a fresh launch token, $NONCE a fresh nonce, $PK/$SIG a key and its
// signature of that nonce, $AGENT the registered agent, $APP the app id.
func (f fuzzFixture) expand(body []byte) []byte {
	if !bytes.Contains(body, []byte("$")) {
		return body
	}
	now := f.s.now()
	lt := randHex(32)
	n, _, _ := f.s.nonces.issue(now)
	pub, priv, _ := ed25519.GenerateKey(nil)
	raw, _ := hex.DecodeString(n)
	f.s.mu.Lock()
	f.s.launch[launchKey(lt)] = &launchToken{agentName: "fuzz", allowedScope: []string{"read:data:*"}, maxTTL: 300, singleUse: true, expiresAt: now.Add(time.Minute)}
	f.s.mu.Unlock()
	return []byte(strings.NewReplacer(
		"$LT", lt, "$NONCE", n,
		"$PK", base64.StdEncoding.EncodeToString(pub),
		"$SIG", base64.StdEncoding.EncodeToString(ed25519.Sign(priv, raw)),
		"$AGENT", f.agentID, "$APP", f.appID,
	).Replace(string(body)))
}

// documented500 lists the only 500 replies the real broker gives (§5).
var documented500 = map[string]string{
	"/v1/delegate":   "delegation failed",
	"/v1/register":   "registration failed",
	"/v1/admin/apps": "failed to register app",
}

// FuzzHandlers fuzzes request bodies across every JSON endpoint: no panic,
// only documented 500s, and every reply well-formed JSON of the right type.
func FuzzHandlers(f *testing.F) {
	seeds := map[string][]string{
		"/v1/register": {
			`{"launch_token":"$LT","nonce":"$NONCE","public_key":"$PK","signature":"$SIG","orch_id":"o","task_id":"t","requested_scope":["read:data:x"]}`,
			`{"launch_token":"$LT","nonce":"$NONCE","public_key":"$PK","signature":"$SIG","orch_id":"o/x","task_id":"..","requested_scope":["read:data:x"]}`,
			`{"launch_token":"$LT","nonce":"$NONCE","public_key":"$PK","signature":"$SIG","orch_id":"o","task_id":"t","requested_scope":["write:data:x"]}`,
			`{"launch_token":"$LT","nonce":"$NONCE","public_key":"AAAA","signature":"$SIG","orch_id":"o","task_id":"t","requested_scope":["read:data:x"]}`,
		},
		"/v1/token/validate":      {`{"token":"x.y.z"}`, `{"token":""}`},
		"/v1/delegate":            {`{"delegate_to":"$AGENT","scope":["read:data:x"],"ttl":30}`, `{"delegate_to":"","scope":[]}`, `{"delegate_to":"$AGENT","scope":["read:data:x"],"ttl":9223372036854775807}`},
		"/v1/revoke":              {`{"level":"task","target":"t"}`, `{"level":"chain","target":"$AGENT"}`, `{"level":"x","target":"y"}`},
		"/v1/admin/auth":          {`{"secret":"` + testSecret + `"}`, `{"client_id":"x"}`},
		"/v1/app/auth":            {`{"client_id":"fi-000000000000","client_secret":"x"}`},
		"/v1/admin/launch-tokens": {`{"agent_name":"a","allowed_scope":["x"],"max_ttl":-1,"ttl":99999999999,"single_use":false}`},
		"/v1/app/launch-tokens":   {`{"agent_name":"a","allowed_scope":["read:data:x"]}`, `{"allowed_scope":["read:other:x"]}`},
		"/v1/admin/apps":          {`{"name":"fixture-app","scopes":["a:b:c"]}`, `{"name":"new-app","scopes":["a:b:c"],"token_ttl":60}`},
		"/v1/admin/apps/{id}":     {`{"scopes":["a:b:c"],"token_ttl":5}`, `{"token_ttl":3600}`},
	}
	for i, ep := range jsonEndpoints {
		for _, s := range seeds[ep.path] {
			f.Add(uint8(i), []byte(s))
		}
		f.Add(uint8(i), []byte(`{`))
		f.Add(uint8(i), []byte(`null`))
		f.Add(uint8(i), []byte(`{"scope":null,"requested_scope":[""],"name":"\u0000"}`))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		fx := newFuzzFixture()
		ep := jsonEndpoints[int(which)%len(jsonEndpoints)]
		path := strings.Replace(ep.path, "{id}", fx.appID, 1)
		req := httptest.NewRequest(ep.method, path, bytes.NewReader(fx.expand(body)))
		switch ep.auth {
		case "admin":
			req.Header.Set("Authorization", "Bearer "+fx.admin)
		case "app":
			req.Header.Set("Authorization", "Bearer "+fx.app)
		case "agent":
			req.Header.Set("Authorization", "Bearer "+fx.agentTok)
		}
		rec := httptest.NewRecorder()
		fx.s.Handler().ServeHTTP(rec, req)

		ct := rec.Header().Get("Content-Type")
		switch rec.Code {
		case 200, 201:
			if ct != "application/json" || !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%d %q %q", rec.Code, ct, rec.Body)
			}
		case 400, 401, 403, 404, 500:
			var p problem
			if ct != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Detail == "" || p.Instance != path || p.Status != rec.Code {
				t.Fatalf("%d %q %q", rec.Code, ct, rec.Body)
			}
			if rec.Code == 500 && documented500[ep.path] != p.Detail {
				t.Fatalf("undocumented 500 on %s: %q (body %q)", path, p.Detail, body)
			}
		default:
			t.Fatalf("status %d on %s: %q", rec.Code, path, rec.Body)
		}
		// The audit chain stays intact whatever happened.
		prev := GenesisHash
		for _, e := range fx.s.AuditEvents() {
			if e.PrevHash != prev || e.Hash != e.computeHash() {
				t.Fatalf("audit chain broken at %s", e.ID)
			}
			prev = e.Hash
		}
	})
}
