package agentwrit

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/conformance"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseClaims(t *testing.T) {
	agent := Claims{Iss: "", Sub: "spiffe://agentwrit.local/agent/o/t/0011223344556677", Exp: 1795723501, Nbf: 1795723201,
		Iat: 1795723201, JTI: "3789b596649398ec0934c81e1f74242b", Scope: []string{"read:analytics:hospital"}, TaskID: "t", OrchID: "o"}
	withAud := agent
	withAud.Aud = []string{"tenantui"}
	delegated := agent
	delegated.DelegationChain = []DelegationRecord{{Agent: "spiffe://a", Scope: []string{"read:x:y"}, DelegatedAt: "2026-11-26T20:00:02.287835008Z", Signature: strings.Repeat("ab", 64)}}
	delegated.ChainHash = ChainHash(delegated.DelegationChain)
	admin := Claims{Sub: "admin", Exp: 1795723500, Nbf: 1795723200, Iat: 1795723200, JTI: "0f47a3296b5f06f56931b167ed533516",
		Scope: []string{"admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"}}

	for name, c := range map[string]Claims{"agent": agent, "with aud": withAud, "delegated": delegated, "admin (no task_id/orch_id/aud)": admin} {
		got, err := ParseClaims(mintJWT(t, c))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: got %+v, want %+v", name, got, c)
		}
	}
	if admin.TaskID != "" || admin.Aud != nil {
		t.Fatal("test setup")
	}
	got, _ := ParseClaims(mintJWT(t, agent))
	if got.ExpiresAt().Unix() != 1795723501 || got.IssuedAt().Unix() != 1795723201 || got.Delegated() {
		t.Errorf("helpers: %v %v %v", got.ExpiresAt(), got.IssuedAt(), got.Delegated())
	}

	// aud as a single string (RFC 7519 allows it).
	tok := mintJWT(t, map[string]any{"sub": "x", "jti": "j", "aud": "one", "scope": []string{}})
	if c, err := ParseClaims(tok); err != nil || !reflect.DeepEqual(c.Aud, Audience{"one"}) {
		t.Errorf("string aud: %+v %v", c, err)
	}
	for raw, want := range map[string]Audience{`""`: nil, `null`: nil, `[]`: {}, `["a","b"]`: {"a", "b"}, ` "x" `: {"x"}} {
		var c Claims
		if err := json.Unmarshal([]byte(`{"sub":"x","aud":`+raw+`}`), &c); err != nil || !reflect.DeepEqual(c.Aud, want) {
			t.Errorf("aud %s: got %#v (%v), want %#v", raw, c.Aud, err, want)
		}
	}
	var bad Claims
	if err := json.Unmarshal([]byte(`{"sub":"x","aud":[1]}`), &bad); err == nil {
		t.Error("aud [1] accepted")
	}
	// Claims omitted by the broker stay omitted when re-encoded.
	b, _ := json.Marshal(admin)
	for _, k := range []string{"aud", "task_id", "orch_id", "delegation_chain", "chain_hash", "sid"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("admin claims encode %s: %s", k, b)
		}
	}
}

func TestParseClaimsErrors(t *testing.T) {
	good := mintJWT(t, Claims{Sub: "x"})
	parts := strings.Split(good, ".")
	for name, tok := range map[string]string{
		"empty":           "",
		"two segments":    parts[0] + "." + parts[1],
		"four segments":   good + ".x",
		"bad base64":      parts[0] + ".!!!." + parts[2],
		"not JSON":        parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("secretvalue")) + "." + parts[2],
		"JSON not claims": parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"scope":"notalist"}`)) + "." + parts[2],
	} {
		_, err := ParseClaims(tok)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "agentwrit: parse claims: not a JWT") ||
			(tok != "" && strings.Contains(err.Error(), tok)) || strings.Contains(err.Error(), "secretvalue") {
			t.Errorf("%s: error %q", name, err)
		}
	}
	// Padded base64url is tolerated.
	padded := parts[0] + "." + parts[1] + strings.Repeat("=", (4-len(parts[1])%4)%4) + "." + parts[2]
	if _, err := ParseClaims(padded); err != nil {
		t.Errorf("padded payload: %v", err)
	}
}

// IsSubset agrees with the broker on the 420 shared vectors (§2, §12).
func TestIsSubsetVectors(t *testing.T) {
	cases := conformance.ScopeVectors(t)
	if len(cases) != 420 {
		t.Fatalf("%d vectors, want 420", len(cases))
	}
	for _, c := range cases {
		if got := IsSubset(c.Requested, c.Allowed); got != c.Subset {
			t.Errorf("IsSubset(%q, %q) = %v, broker says %v", c.Requested, c.Allowed, got, c.Subset)
		}
	}
}
