package agentwrit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTypedErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		check   func(t *testing.T, err error, ae *APIError)
	}{
		{
			name: "401 problem",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, r, 401, CodeUnauthorized, "token verification failed")
			},
			check: func(t *testing.T, err error, ae *APIError) {
				var x *AuthenticationError
				if !errors.As(err, &x) || x.Code != CodeUnauthorized || x.Detail != "token verification failed" {
					t.Errorf("got %v", err)
				}
				var v AuthenticationError // non-pointer target works too
				if !errors.As(err, &v) || v.Status != 401 {
					t.Errorf("value As failed: %v", err)
				}
			},
		},
		{
			name: "403 scope_violation",
			handler: func(w http.ResponseWriter, r *http.Request) {
				r.Header.Set("X-Request-ID", "876fc58538c9944e")
				writeProblem(w, r, 403, CodeScopeViolation, "delegated scope exceeds delegator scope")
			},
			check: func(t *testing.T, err error, ae *APIError) {
				var x *AuthorizationError
				if !errors.As(err, &x) || x.Code != CodeScopeViolation {
					t.Errorf("got %v", err)
				}
				if got, want := ae.Error(), "403 scope_violation: delegated scope exceeds delegator scope (request 876fc58538c9944e)"; got != want {
					t.Errorf("Error() = %q, want %q", got, want)
				}
				var v AuthorizationError
				if !errors.As(err, &v) || v.Code != CodeScopeViolation {
					t.Errorf("value As failed")
				}
			},
		},
		{
			name: "403 forbidden",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, r, 403, CodeForbidden, "requested scopes exceed app ceiling; allowed: [read:analytics:*]")
			},
			check: func(t *testing.T, err error, ae *APIError) {
				var x *AuthorizationError
				if !errors.As(err, &x) || x.Code != CodeForbidden {
					t.Errorf("got %v", err)
				}
			},
		},
		{
			name: "403 insufficient_scope",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, r, 403, CodeInsufficientScope, "token lacks required scope: admin:audit:*")
			},
			check: func(t *testing.T, err error, ae *APIError) {
				var x *AuthorizationError
				if !errors.As(err, &x) || x.Code != CodeInsufficientScope {
					t.Errorf("got %v", err)
				}
			},
		},
		{
			name: "404 plain text from the router",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-ID", "aaaabbbbccccdddd")
				http.NotFound(w, r)
			},
			check: func(t *testing.T, err error, ae *APIError) {
				var x *NotFoundError
				if !errors.As(err, &x) {
					t.Errorf("got %T", err)
				}
				want := APIError{Status: 404, Code: CodeNotFound, Title: "Not Found", Detail: "404 page not found",
					Instance: "/v1/health", RequestID: "aaaabbbbccccdddd"}
				if *ae != want {
					t.Errorf("got %+v, want %+v", *ae, want)
				}
			},
		},
		{
			name: "405 plain text with Allow",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Allow", "POST")
				http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			},
			check: func(t *testing.T, err error, ae *APIError) {
				if ae.Status != 405 || ae.Code != CodeMethodNotAllowed || ae.Detail != "Method Not Allowed" {
					t.Errorf("got %+v", *ae)
				}
				if got := errors.Unwrap(err); got != ae {
					t.Errorf("405 should be a bare *APIError, got %T", got)
				}
			},
		},
		{
			name: "413 problem without security headers",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, r, 413, CodePayloadTooLarge, "request body must not exceed 1 MB")
			},
			check: func(t *testing.T, err error, ae *APIError) {
				if ae.Status != 413 || ae.Code != CodePayloadTooLarge || ae.Title != "Request Entity Too Large" {
					t.Errorf("got %+v", *ae)
				}
			},
		},
		{
			name: "429 with Retry-After seconds",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "60")
				writeProblem(w, r, 429, CodeRateLimited, "rate limit exceeded, try again later")
			},
			check: func(t *testing.T, err error, ae *APIError) {
				var x *RateLimitError
				if !errors.As(err, &x) || x.RetryAfter != time.Minute {
					t.Errorf("got %v", err)
				}
				if !strings.Contains(err.Error(), "retry after 60s; request 0123456789abcdef") {
					t.Errorf("message %q", err)
				}
			},
		},
		{
			name: "429 with Retry-After date",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
				writeProblem(w, r, 429, CodeRateLimited, "rate limit exceeded, try again later")
			},
			check: func(t *testing.T, err error, ae *APIError) {
				if ae.RetryAfter < 80*time.Second || ae.RetryAfter > 91*time.Second {
					t.Errorf("RetryAfter = %v", ae.RetryAfter)
				}
			},
		},
		{
			name: "500 not JSON",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(500)
				_, _ = w.Write([]byte("<html>\n<b>upstream\tfailed</b>\n</html>"))
			},
			check: func(t *testing.T, err error, ae *APIError) {
				if ae.Status != 500 || ae.Code != CodeInternalError || ae.Title != "Internal Server Error" ||
					ae.Detail != "<html> <b>upstream failed</b> </html>" {
					t.Errorf("got %+v", *ae)
				}
			},
		},
		{
			name: "500 problem",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, r, 500, CodeInternalError, "delegation failed")
			},
			check: func(t *testing.T, err error, ae *APIError) {
				if ae.Code != CodeInternalError || ae.Detail != "delegation failed" {
					t.Errorf("got %+v", *ae)
				}
			},
		},
		{
			name: "400 problem with only type",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(400)
				_, _ = w.Write([]byte(`{"type":"urn:agentwrit:error:invalid_ttl","status":400,"detail":"invalid token TTL"}`))
			},
			check: func(t *testing.T, err error, ae *APIError) {
				if ae.Code != CodeInvalidTTL || ae.Title != "Bad Request" {
					t.Errorf("got %+v", *ae)
				}
			},
		},
		{
			name: "200 that is not JSON",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-ID", "1234")
				_, _ = w.Write([]byte("hello"))
			},
			check: func(t *testing.T, err error, ae *APIError) {
				if ae.Status != 200 || ae.Code != CodeInvalidResponse || ae.RequestID != "1234" {
					t.Errorf("got %+v", *ae)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, err := NewClient(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Health(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "agentwrit: health: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q", err)
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%T is not an *APIError", err)
			}
			var te *TransportError
			if errors.As(err, &te) {
				t.Errorf("an HTTP reply must not be a TransportError")
			}
			tt.check(t, err, ae)
		})
	}
}

// closedLoopbackURL returns the URL of a loopback port nobody listens on.
func closedLoopbackURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

func TestTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		u := closedLoopbackURL(t)
		c, _ := NewClient(u)
		_, err := c.Health(context.Background())
		var te *TransportError
		if !errors.As(err, &te) {
			t.Fatalf("got %T %v", err, err)
		}
		if want := "agentwrit: health: broker unreachable at " + u + ": connection refused"; err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
		if te.Timeout() || te.Op != "GET /v1/health" || te.URL != u {
			t.Errorf("got %+v timeout=%v", te, te.Timeout())
		}
		var ae *APIError
		if errors.As(err, &ae) {
			t.Errorf("a transport error must not be an *APIError")
		}
	})

	// block is a stub that answers only when the client goes away.
	block := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})

	t.Run("http client timeout", func(t *testing.T) {
		srv := httptest.NewServer(block)
		defer srv.Close()
		c, _ := NewClient(srv.URL, WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
		_, err := c.Health(context.Background())
		var te *TransportError
		if !errors.As(err, &te) || !te.Timeout() {
			t.Fatalf("got %T %v", err, err)
		}
		if want := "agentwrit: health: broker at " + srv.URL + " did not answer in time (timeout)"; err.Error() != want {
			t.Errorf("message %q", err)
		}
	})

	t.Run("context deadline", func(t *testing.T) {
		srv := httptest.NewServer(block)
		defer srv.Close()
		c, _ := NewClient(srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Validate(ctx, "x")
		var te *TransportError
		if !errors.As(err, &te) || !te.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %T %v", err, err)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		srv := httptest.NewServer(block)
		defer srv.Close()
		c, _ := NewClient(srv.URL)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := c.Challenge(ctx)
		var te *TransportError
		if !errors.As(err, &te) || te.Timeout() || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %T %v", err, err)
		}
		if want := "agentwrit: challenge: request to broker at " + srv.URL + " cancelled"; err.Error() != want {
			t.Errorf("message %q", err)
		}
	})

	t.Run("TLS to a plain HTTP server", func(t *testing.T) {
		srv := httptest.NewServer(block)
		defer srv.Close()
		u := strings.Replace(srv.URL, "http://", "https://", 1)
		c, _ := NewClient(u)
		_, err := c.Health(context.Background())
		var te *TransportError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "TLS handshake failed") {
			t.Fatalf("got %T %v", err, err)
		}
	})

	t.Run("password in the URL is not shown", func(t *testing.T) {
		u := closedLoopbackURL(t)
		withPw := strings.Replace(u, "http://", "http://user:hunter2@", 1)
		c, err := NewClient(withPw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Health(context.Background())
		if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(c.BrokerURL(), "hunter2") {
			t.Errorf("password leaked: %v / %s", err, c.BrokerURL())
		}
	})
}

func TestNewClientURLValidation(t *testing.T) {
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://host", "http://", "http://h/?q=1", "://x", "http://u:pw@:bad port"} {
		_, err := NewClient(bad)
		if err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
			continue
		}
		if !strings.HasPrefix(err.Error(), "agentwrit: invalid broker URL") || strings.Contains(err.Error(), "\n") ||
			strings.Contains(err.Error(), "pw@") {
			t.Errorf("NewClient(%q) error %q", bad, err)
		}
	}
	c, err := NewClient("http://127.0.0.1:8080/")
	if err != nil || c.BrokerURL() != "http://127.0.0.1:8080" {
		t.Errorf("got %v, %v", c, err)
	}
	if _, err := NewApp("http://127.0.0.1:1", "", "s"); err == nil || err.Error() != "agentwrit: new app: client ID is empty" {
		t.Errorf("empty id: %v", err)
	}
	if _, err := NewApp("http://127.0.0.1:1", "id", ""); err == nil || err.Error() != "agentwrit: new app: client secret is empty" {
		t.Errorf("empty secret: %v", err)
	}
	if _, err := NewApp("nope", "id", "topsecret"); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("bad URL: %v", err)
	}
	if _, err := NewAdmin("http://127.0.0.1:1", ""); err == nil || err.Error() != "agentwrit: new admin: admin secret is empty" {
		t.Errorf("empty admin secret: %v", err)
	}
}

func TestRequestHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		writeJSON(w, 200, map[string]any{"access_token": "t2", "expires_in": 300})
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, WithUserAgent("probe/1"))
	if _, _, err := c.Renew(context.Background(), "tok.en.x"); err != nil {
		t.Fatal(err)
	}
	if got.Get("Authorization") != "Bearer tok.en.x" || len(got.Values("Authorization")) != 1 {
		t.Errorf("Authorization = %q", got.Values("Authorization"))
	}
	if got.Get("User-Agent") != "probe/1" || got.Get("Content-Type") != "" {
		t.Errorf("headers = %v", got)
	}
	if _, err := c.Validate(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if got.Get("Content-Type") != "application/json" || got.Get("Authorization") != "" {
		t.Errorf("validate headers = %v", got)
	}
}

func TestDefaultHTTPClient(t *testing.T) {
	a, _ := NewClient("http://127.0.0.1:1")
	b, _ := NewClient("http://127.0.0.1:2")
	if a.cfg.httpClient != b.cfg.httpClient {
		t.Error("default *http.Client is not shared")
	}
	hc := a.cfg.httpClient
	tr, ok := hc.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost != 16 || hc.Timeout != 10*time.Second || tr.DisableKeepAlives {
		t.Errorf("default client = %+v", hc)
	}
}

// A proxy page echoing the request must not put secrets into the error.
func TestErrorDetailScrubsSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("bad gateway; you sent " + string(body) + " with " + r.Header.Get("Authorization")))
	}))
	defer srv.Close()
	ctx := context.Background()
	app, _ := NewApp(srv.URL, "tc-1", "my app secret")
	admin, _ := NewAdmin(srv.URL, "hunter2-hunter2")
	c, _ := NewClient(srv.URL)
	jwt := mintJWT(t, Claims{Sub: "x"})
	_, errRenew := func() (string, error) { tok, _, err := c.Renew(ctx, "bearer-secret-value"); return tok, err }()
	_, errValidate := c.Validate(ctx, jwt)
	_, errReg := c.Register(ctx, RegisterRequest{LaunchToken: strings.Repeat("ab", 32), Nonce: "n"})
	for _, err := range []error{app.Authenticate(ctx), admin.Authenticate(ctx), errRenew, errValidate, errReg} {
		msg := err.Error()
		for _, s := range []string{"my app secret", "hunter2", "bearer-secret-value", jwt[:20], strings.Repeat("ab", 32)} {
			if strings.Contains(msg, s) {
				t.Errorf("error leaks %q: %s", s, msg)
			}
		}
		if !strings.Contains(msg, "502 internal_error: bad gateway; you sent") {
			t.Errorf("message %q", msg)
		}
	}
}
