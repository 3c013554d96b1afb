package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// Problem codes (§4).
const (
	codeInvalidRequest    = "invalid_request"
	codeInvalidTTL        = "invalid_ttl"
	codePayloadTooLarge   = "payload_too_large"
	codeUnauthorized      = "unauthorized"
	codeInsufficientScope = "insufficient_scope"
	codeScopeViolation    = "scope_violation"
	codeForbidden         = "forbidden"
	codeNotFound          = "not_found"
	codeRateLimited       = "rate_limited"
	codeInternal          = "internal_error"
)

const detailMalformed = "malformed JSON body"

// problem is an RFC 7807 body with the real broker's key order (§4).
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance"`
	ErrorCode string `json:"error_code"`
	RequestID string `json:"request_id,omitempty"`
	Hint      string `json:"hint,omitempty"`
}

// routes builds the mux and wraps it in the real broker's middleware order:
// request id, then the body limit (whose 413 lacks the security headers),
// then security headers (§4).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", s.handleHealth)
	mux.HandleFunc("GET /v1/metrics", s.handleMetrics)
	mux.HandleFunc("GET /v1/challenge", s.handleChallenge)
	mux.HandleFunc("POST /v1/register", s.handleRegister)
	mux.HandleFunc("POST /v1/token/validate", s.handleValidate)
	mux.Handle("POST /v1/token/renew", s.bearer("", s.handleRenew))
	mux.Handle("POST /v1/token/release", s.bearer("", s.handleRelease))
	mux.Handle("POST /v1/delegate", s.bearer("", s.handleDelegate))
	mux.Handle("POST /v1/revoke", s.bearer("admin:revoke:*", s.handleRevoke))
	mux.Handle("GET /v1/audit/events", s.bearer("admin:audit:*", s.handleAudit))
	mux.HandleFunc("POST /v1/admin/auth", s.handleAdminAuth)
	mux.Handle("POST /v1/admin/launch-tokens", s.bearer("admin:launch-tokens:*", s.handleLaunchToken))
	mux.Handle("POST /v1/app/launch-tokens", s.bearer("app:launch-tokens:*", s.handleLaunchToken))
	mux.Handle("POST /v1/admin/apps", s.bearer("admin:launch-tokens:*", s.handleCreateApp))
	mux.Handle("GET /v1/admin/apps", s.bearer("admin:launch-tokens:*", s.handleListApps))
	mux.Handle("GET /v1/admin/apps/{id}", s.bearer("admin:launch-tokens:*", s.handleGetApp))
	mux.Handle("PUT /v1/admin/apps/{id}", s.bearer("admin:launch-tokens:*", s.handleUpdateApp))
	mux.Handle("DELETE /v1/admin/apps/{id}", s.bearer("admin:launch-tokens:*", s.handleDeleteApp))
	mux.HandleFunc("POST /v1/app/auth", s.handleAppAuth)

	var h http.Handler = mux
	h = securityHeaders(h, s.cfg.TLS != nil)
	h = limitBody(h)
	h = withRequestID(h)
	return h
}

// withRequestID echoes the client's X-Request-ID verbatim or generates 16 hex.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if v := r.Header[hdrRequestID]; len(v) > 0 {
			id = v[0]
		}
		if id == "" {
			id = randHex(8)
		}
		w.Header()[hdrRequestID] = []string{id}
		next.ServeHTTP(w, r)
	})
}

// limitBody buffers the whole body, refusing more than 1 MiB with 413 (§4).
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil {
			r.Body = http.NoBody
		}
		buf, err := readAll(http.MaxBytesReader(w, r.Body, maxBodyBytes), r.ContentLength)
		if err != nil {
			if mbe := new(http.MaxBytesError); errors.As(err, &mbe) {
				writeProblem(w, r, http.StatusRequestEntityTooLarge, codePayloadTooLarge, "request body must not exceed 1 MB")
				return
			}
			writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "failed to read request body")
			return
		}
		r.Body = &readBody{Reader: bytes.NewReader(buf), buf: buf}
		next.ServeHTTP(w, r)
	})
}

// readAll is io.ReadAll with a first buffer sized for the announced length
// (plus a byte in which to find the end), so that a body costs one
// allocation.
func readAll(r io.Reader, length int64) ([]byte, error) {
	size := 512
	if length > 0 && length < maxBodyBytes {
		size = int(length) + 1
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// tokenBody returns the token of a body that is exactly {"token":"…"}, the
// token made only of the characters of a compact JWS (as our client sends
// it), and consumes the body; it reads it without a JSON decoder, which
// scanned the token twice. For any other body ok is false and decodeBody
// reads it as before.
func tokenBody(r *http.Request) (tok string, ok bool) {
	rb, ok := r.Body.(*readBody)
	if !ok || rb.Len() != len(rb.buf) {
		return "", false
	}
	const pre, suf = `{"token":"`, `"}`
	b := rb.buf
	if len(b) <= len(pre)+len(suf) || string(b[:len(pre)]) != pre || string(b[len(b)-len(suf):]) != suf {
		return "", false
	}
	t := b[len(pre) : len(b)-len(suf)]
	for _, c := range t {
		if !jwsChar(c) {
			return "", false
		}
	}
	rb.unread()
	return string(t), true
}

// jwsChar reports whether c may appear in a compact JWS: base64url and dots.
func jwsChar(c byte) bool { return plainChars[c] }

// plainChars marks A–Z a–z 0–9 . - _: the bytes of a compact JWS (base64url
// and its dots) and of a SPIFFE path segment (§3). A table: one load a byte
// over a long token.
var plainChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	return t
}()

// readBody is a request body limitBody has read whole.
type readBody struct {
	*bytes.Reader
	buf []byte
}

func (*readBody) Close() error { return nil }

// unread returns what is left to read of the body and consumes it, without
// a copy.
func (b *readBody) unread() []byte {
	rest := b.buf[len(b.buf)-b.Len():]
	_, _ = b.Seek(0, io.SeekEnd)
	return rest
}

// hstsValue is the real broker's Strict-Transport-Security in TLS modes.
const hstsValue = "max-age=63072000; includeSubDomains"

// Header values every reply carries. Header maps hold them without a copy:
// nothing modifies a value slice in place (Add appends, which copies a
// slice this full), so they can be shared.
var (
	hdrNoStore = []string{"no-store"}
	hdrNoSniff = []string{"nosniff"}
	hdrDeny    = []string{"DENY"}
	hdrHSTS    = []string{hstsValue}
	hdrJSON    = []string{"application/json"}
	hdrProblem = []string{"application/problem+json"}
)

// securityHeaders sets the headers every ordinary reply carries (§4), and
// HSTS when the broker serves TLS, as the real one does in tls and mtls modes.
func securityHeaders(next http.Handler, hsts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Shared, never modified value slices: one allocation less per
		// header per reply.
		h := w.Header()
		h["Cache-Control"] = hdrNoStore
		h["X-Content-Type-Options"] = hdrNoSniff
		h["X-Frame-Options"] = hdrDeny
		if hsts {
			h["Strict-Transport-Security"] = hdrHSTS
		}
		next.ServeHTTP(w, r)
	})
}

// requestID is the request's id, as withRequestID set it on the reply: no
// per-request context value needed.
func requestID(w http.ResponseWriter) string {
	if v := w.Header()[hdrRequestID]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// hdrRequestID is X-Request-ID in the canonical form header maps use;
// looked up directly, it is not canonicalised (and allocated) on every call.
const hdrRequestID = "X-Request-Id"

// writeProblem writes an application/problem+json error (§4).
func writeProblem(w http.ResponseWriter, r *http.Request, status int, code, detail string) {
	p := problem{
		Type:      "urn:agentwrit:error:" + code,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    detail,
		Instance:  r.URL.Path,
		ErrorCode: code,
		RequestID: requestID(w),
	}
	w.Header()["Content-Type"] = hdrProblem
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes a success body the way the real broker does (encoding/json
// Encoder, so with a trailing newline).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeBody reads the first JSON value of the (already size-limited) body
// into v, ignoring any trailing data as the real broker does; on failure it
// answers 400 "malformed JSON body" and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	var body []byte
	var err error
	if rb, ok := r.Body.(*readBody); ok {
		body = rb.unread()
	} else {
		body, err = io.ReadAll(r.Body)
	}
	if err == nil {
		err = lenientUnmarshal(body, v)
	}
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, detailMalformed)
		return false
	}
	return true
}

// bearerHandler is a handler behind the Bearer pipeline.
type bearerHandler func(w http.ResponseWriter, r *http.Request, c *claims, token string)

// bearer runs the §4 pipeline: header present, "Bearer " scheme, token
// verification (revocation included), audience, then the route scope.
func (s *Server) bearer(routeScope string, next bearerHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		fail := func(agentID, taskID, orchID, detail, reply string) {
			s.record(AuditEvent{EventType: evTokenAuthFailed, AgentID: agentID, TaskID: taskID, OrchID: orchID,
				Detail: detail + " | path=" + path, Resource: path, Outcome: outcomeDenied})
			writeProblem(w, r, http.StatusUnauthorized, codeUnauthorized, reply)
		}
		auth := r.Header.Get("Authorization")
		if auth == "" {
			fail("", "", "", "missing authorization header", "missing authorization header")
			return
		}
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			fail("", "", "", "invalid authorization scheme", "invalid authorization scheme")
			return
		}
		c, err := s.verify(tok)
		if err != nil {
			fail("", "", "", "token verification failed: "+err.Error(), "token verification failed")
			return
		}
		if s.cfg.Audience != "" && !contains(c.Aud, s.cfg.Audience) {
			fail(c.Sub, c.TaskID, c.OrchID, "audience mismatch | expected="+s.cfg.Audience, "token audience mismatch")
			return
		}
		if routeScope != "" && !scopeCovered(routeScope, c.Scope) {
			s.record(AuditEvent{EventType: evScopeViolation, AgentID: c.Sub, TaskID: c.TaskID, OrchID: c.OrchID,
				Detail:   "scope_violation | required=" + routeScope + " | actual=" + strings.Join(c.Scope, ",") + " | path=" + path,
				Resource: path, Outcome: outcomeDenied})
			writeProblem(w, r, http.StatusForbidden, codeInsufficientScope, "token lacks required scope: "+routeScope)
			return
		}
		next(w, r, c, tok)
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
