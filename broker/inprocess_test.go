package broker

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The in-process transport answers exactly as the same handler does over a
// loopback socket: status, headers and body.
func TestTransportMatchesLoopback(t *testing.T) {
	s, err := New(Config{AdminSecret: "s3cret-admin-secret", DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	inproc := &http.Client{Transport: s.Transport()}
	cases := []struct{ method, path, body string }{
		{"GET", "/v1/health", ""},
		{"GET", "/v1/nope", ""},
		{"POST", "/v1/admin/auth", `{"secret":"wrong"}`},
		{"POST", "/v1/admin/auth", `not json`},
		{"POST", "/v1/token/validate", `{"token":"a.b.c"}`},
		{"POST", "/v1/token/release", ``},
		{"DELETE", "/v1/health", ""},
	}
	do := func(c *http.Client, method, url, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("X-Request-ID", "req-1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, c := range cases {
		want, wantBody := do(ts.Client(), c.method, ts.URL+c.path, c.body)
		got, gotBody := do(inproc, c.method, "http://127.0.0.1:1"+c.path, c.body)
		name := c.method + " " + c.path
		if got.StatusCode != want.StatusCode {
			t.Errorf("%s: status %d, over loopback %d", name, got.StatusCode, want.StatusCode)
		}
		// Uptime may tick between the two calls; everything else is equal.
		if !strings.Contains(c.path, "health") && gotBody != wantBody {
			t.Errorf("%s: body %q, over loopback %q", name, gotBody, wantBody)
		}
		for k := range want.Header {
			if k == "Date" {
				continue
			}
			if !slices.Equal(got.Header.Values(k), want.Header.Values(k)) {
				t.Errorf("%s: header %s = %q, over loopback %q", name, k, got.Header.Values(k), want.Header.Values(k))
			}
		}
	}
}

// A handler that panics fails the request instead of the caller.
func TestTransportPanicIsAnError(t *testing.T) {
	tr := inProcess{h: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })}
	req, _ := http.NewRequest("GET", "http://x/", nil)
	if resp, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("RoundTrip = %v, %v; want a panic error", resp, err)
	}
}

// The in-process transport hands the handler a shallow copy of the client's
// request: no route may change the header or the URL it shares.
func TestInProcessLeavesRequestAlone(t *testing.T) {
	s, err := New(Config{AdminSecret: "s3cret-admin-secret", DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	rt := s.Transport()
	call := func(method, path, bearer, body string) string {
		t.Helper()
		req, err := http.NewRequest(method, "http://127.0.0.1:1"+path+"?x=1", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", "req-1")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		header, url := req.Header.Clone(), *req.URL
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if !reflect.DeepEqual(req.Header, header) || *req.URL != url {
			t.Fatalf("%s %s changed the request: header %v (was %v), URL %v (was %v)", method, path, req.Header, header, req.URL, &url)
		}
		return string(b)
	}
	var admin struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(call("POST", "/v1/admin/auth", "", `{"secret":"s3cret-admin-secret"}`)), &admin); err != nil || admin.AccessToken == "" {
		t.Fatalf("admin auth: %v", err)
	}
	for _, c := range []struct{ method, path, bearer, body string }{
		{"GET", "/v1/health", "", ""},
		{"GET", "/v1/challenge", "", ""},
		{"POST", "/v1/admin/apps", admin.AccessToken, `{"name":"leave-alone","scopes":["read:data:*"]}`},
		{"GET", "/v1/admin/apps", admin.AccessToken, ""},
		{"POST", "/v1/admin/launch-tokens", admin.AccessToken, `{"agent_name":"a","allowed_scope":["read:data:x"]}`},
		{"POST", "/v1/register", "", `{"launch_token":"x"}`},
		{"POST", "/v1/token/validate", "", `{"token":"` + admin.AccessToken + `"}`},
		{"POST", "/v1/token/validate", "", `{"token": "a.b.c"} trailing`},
		{"POST", "/v1/token/renew", admin.AccessToken, ""},
		{"GET", "/v1/audit/events", admin.AccessToken, ""},
		{"POST", "/v1/token/release", "bad", ""},
		{"GET", "/v1/nope", "", ""},
	} {
		call(c.method, c.path, c.bearer, c.body)
	}
}
