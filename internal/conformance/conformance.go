// Package conformance loads the recorded facts about the real AgentWrit
// v2.0.0 broker that the tests of several packages check against: the
// transcript of request/response exchanges and the scope coverage vectors
// (testdata/conformance at the repository root; docs/protocol.md says how
// they were recorded).
// It is test support only.
package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// dir is testdata/conformance at the repository root, found from this
// file's location so that any package's tests can load it.
func dir(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("conformance: cannot locate the source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "conformance")
}

func load(tb testing.TB, name string, v any) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(dir(tb), name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

// Exchange is one recorded request and the real broker's response. Secrets
// and tokens in it are truncated to "<prefix>…(<n> chars)".
type Exchange struct {
	Name    string `json:"name"`
	Note    string `json:"note"`
	Request struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Auth   *string         `json:"auth"`
		Body   json.RawMessage `json:"body"`
	} `json:"request"`
	Response struct {
		Status      int               `json:"status"`
		ContentType *string           `json:"content_type"`
		Headers     map[string]string `json:"headers"`
		Body        json.RawMessage   `json:"body"`
	} `json:"response"`
	AdminTokenClaims json.RawMessage `json:"admin_token_claims"`
	AppTokenClaims   json.RawMessage `json:"app_token_claims"`
	AgentTokenHeader json.RawMessage `json:"agent_token_header"`
	AgentTokenClaims json.RawMessage `json:"agent_token_claims"`
}

// Transcript returns the recorded exchanges, in order.
func Transcript(tb testing.TB) []Exchange {
	tb.Helper()
	var f struct {
		Exchanges []Exchange `json:"exchanges"`
	}
	load(tb, "real-broker-v2.0.0-transcript.json", &f)
	if len(f.Exchanges) < 50 {
		tb.Fatalf("conformance: only %d exchanges in the transcript", len(f.Exchanges))
	}
	return f.Exchanges
}

// Vector is one scope coverage case with the real broker's answer.
type Vector struct {
	Requested     []string `json:"requested"`
	Allowed       []string `json:"allowed"`
	Subset        bool     `json:"subset"`
	AllWellFormed bool     `json:"all_well_formed"`
}

// ScopeVectors returns the coverage cases.
func ScopeVectors(tb testing.TB) []Vector {
	tb.Helper()
	var f struct {
		Cases []Vector `json:"cases"`
	}
	load(tb, "scope-vectors.json", &f)
	if len(f.Cases) < 400 {
		tb.Fatalf("conformance: only %d scope vectors", len(f.Cases))
	}
	return f.Cases
}
