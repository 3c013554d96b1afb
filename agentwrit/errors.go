package agentwrit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// Problem codes: the error_code values the broker sends (§4), plus two that
// this client synthesizes.
const (
	CodeInvalidRequest    = "invalid_request"    // 400
	CodeInvalidTTL        = "invalid_ttl"        // 400
	CodePayloadTooLarge   = "payload_too_large"  // 413
	CodeUnauthorized      = "unauthorized"       // 401
	CodeInsufficientScope = "insufficient_scope" // 403: the token lacks the route's scope
	CodeScopeViolation    = "scope_violation"    // 403: requested scope exceeds what is allowed
	CodeForbidden         = "forbidden"          // 403: app ceiling exceeded or app missing
	CodeNotFound          = "not_found"          // 404
	CodeRateLimited       = "rate_limited"       // 429
	CodeInternalError     = "internal_error"     // 500

	// CodeMethodNotAllowed is synthesized for the router's plain-text 405.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeInvalidResponse is synthesized when a reply cannot be decoded
	// (a 2xx body that is not the expected JSON, or a token that is not a JWT).
	CodeInvalidResponse = "invalid_response"
)

// APIError is a non-2xx reply from the broker, decoded from its
// application/problem+json body (§4), or synthesized from the status line
// when the body is not a problem (the router's plain-text 404 and 405, a
// proxy's HTML page, ...). It is also used, with Code [CodeInvalidResponse],
// for replies that cannot be decoded.
type APIError struct {
	Status     int           // HTTP status code
	Code       string        // error_code, e.g. "scope_violation"; synthesized from Status for non-problem bodies
	Title      string        // HTTP reason phrase
	Detail     string        // human-readable detail; never branch on it
	Instance   string        // request path
	RequestID  string        // request_id, or the X-Request-ID header
	Type       string        // problem type URN, "urn:agentwrit:error:<code>"
	Hint       string        // optional hint (never sent by v2.0.0)
	RetryAfter time.Duration // from the Retry-After header, 0 if absent
}

// Error returns one line, e.g.
// "403 scope_violation: delegated scope exceeds delegator scope (request 876fc58538c9944e)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if msg != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(msg, 300))
	}
	var extra []string
	if e.RetryAfter > 0 {
		extra = append(extra, "retry after "+seconds(e.RetryAfter))
	}
	if e.RequestID != "" {
		extra = append(extra, "request "+e.RequestID)
	}
	if len(extra) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(extra, "; "))
		b.WriteString(")")
	}
	return b.String()
}

// AuthenticationError is a 401: missing, malformed, expired, revoked,
// released or renewed-away token, or bad login credentials (§4). It unwraps
// to its *APIError.
type AuthenticationError struct{ *APIError }

// Unwrap returns the underlying *APIError.
func (e *AuthenticationError) Unwrap() error { return e.APIError }

// As lets errors.As fill a non-pointer AuthenticationError target too.
func (e *AuthenticationError) As(target any) bool {
	if p, ok := target.(*AuthenticationError); ok {
		*p = *e
		return true
	}
	return false
}

// AuthorizationError is a 403. Its Code tells the cases apart:
// [CodeScopeViolation], [CodeForbidden] or [CodeInsufficientScope].
// It unwraps to its *APIError.
type AuthorizationError struct{ *APIError }

// Unwrap returns the underlying *APIError.
func (e *AuthorizationError) Unwrap() error { return e.APIError }

// As lets errors.As fill a non-pointer AuthorizationError target too.
func (e *AuthorizationError) As(target any) bool {
	if p, ok := target.(*AuthorizationError); ok {
		*p = *e
		return true
	}
	return false
}

// RateLimitError is a 429; RetryAfter holds the Retry-After header (§6).
// It unwraps to its *APIError.
type RateLimitError struct{ *APIError }

// Unwrap returns the underlying *APIError.
func (e *RateLimitError) Unwrap() error { return e.APIError }

// As lets errors.As fill a non-pointer RateLimitError target too.
func (e *RateLimitError) As(target any) bool {
	if p, ok := target.(*RateLimitError); ok {
		*p = *e
		return true
	}
	return false
}

// NotFoundError is a 404, either a problem (e.g. "delegate agent not found",
// "app not found") or the router's plain-text reply for an unknown path.
// It unwraps to its *APIError.
type NotFoundError struct{ *APIError }

// Unwrap returns the underlying *APIError.
func (e *NotFoundError) Unwrap() error { return e.APIError }

// As lets errors.As fill a non-pointer NotFoundError target too.
func (e *NotFoundError) As(target any) bool {
	if p, ok := target.(*NotFoundError); ok {
		*p = *e
		return true
	}
	return false
}

// TransportError means no HTTP reply was obtained: the broker is
// unreachable, the request timed out or was cancelled, TLS failed, or the
// connection broke while reading the reply. Err is the underlying cause, so
// errors.Is(err, context.DeadlineExceeded) and the like work.
type TransportError struct {
	Op  string // e.g. "POST /v1/app/auth"
	URL string // the broker's base URL (credentials removed)
	Err error
}

// Error returns one line, e.g.
// "broker unreachable at http://127.0.0.1:9: connection refused".
func (e *TransportError) Error() string {
	switch {
	case errors.Is(e.Err, context.Canceled):
		return "request to broker at " + e.URL + " cancelled"
	case e.Timeout():
		return "broker at " + e.URL + " did not answer in time (timeout)"
	case strings.HasPrefix(e.Op, "read "):
		return "reading reply from broker at " + e.URL + ": " + transportReason(e.Err)
	}
	return "broker unreachable at " + e.URL + ": " + transportReason(e.Err)
}

// Unwrap returns the underlying cause.
func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the request failed because a deadline passed
// (the http.Client timeout or the context's deadline).
func (e *TransportError) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// transportReason turns a low-level network error into a short phrase.
func transportReason(err error) string {
	var (
		dnsErr   *net.DNSError
		recErr   tls.RecordHeaderError
		certErr  *tls.CertificateVerificationError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		alertErr tls.AlertError
	)
	switch {
	case err == nil:
		return "unknown error"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &dnsErr):
		return "cannot resolve host " + dnsErr.Name
	case tlsClass(err) == ErrClientCertRequired:
		return "the broker requires a client certificate (mTLS) and none was presented"
	case tlsClass(err) == ErrClientCertRejected:
		return "the broker rejected the client certificate: " + innermost(err)
	case errors.As(err, &recErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "TLS handshake failed (is the broker serving plain HTTP?)"
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr):
		return "TLS certificate not trusted: " + innermost(err)
	case errors.As(err, &alertErr):
		return "TLS handshake failed: " + alertErr.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the broker"
	}
	return innermost(err)
}

// innermost returns the message of the deepest wrapped error, which for
// network errors is the useful part ("connection refused" rather than
// "dial tcp 127.0.0.1:9: connect: connection refused").
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return oneLine(err.Error(), 200)
		}
		err = next
	}
}

// problem is the application/problem+json body (§4).
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance"`
	ErrorCode string `json:"error_code"`
	RequestID string `json:"request_id"`
	Hint      string `json:"hint"`
}

const problemTypePrefix = "urn:agentwrit:error:"

// newAPIError builds the error for a non-2xx reply with the given body.
// Details of non-problem bodies are scrubbed of the given secrets and of
// anything shaped like a token or a hex secret; the broker's own problem
// details never echo secrets.
func newAPIError(resp *http.Response, body []byte, now time.Time, secrets []string) error {
	e := &APIError{
		Status:     resp.StatusCode,
		RequestID:  resp.Header.Get("X-Request-ID"),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
	}
	var p problem
	if looksJSON(resp.Header.Get("Content-Type"), body) && json.Unmarshal(body, &p) == nil &&
		(p.ErrorCode != "" || strings.HasPrefix(p.Type, problemTypePrefix) || p.Detail != "") {
		e.Code = p.ErrorCode
		if e.Code == "" {
			e.Code = strings.TrimPrefix(p.Type, problemTypePrefix)
		}
		e.Title, e.Detail, e.Instance, e.Type, e.Hint = p.Title, p.Detail, p.Instance, p.Type, p.Hint
		if p.RequestID != "" {
			e.RequestID = p.RequestID
		}
	} else {
		// Not a problem: the router's "404 page not found", a proxy page...
		e.Detail = oneLine(scrub(string(body), secrets), 200)
		if resp.Request != nil && resp.Request.URL != nil {
			e.Instance = resp.Request.URL.Path
		}
	}
	if e.Code == "" {
		e.Code = codeForStatus(resp.StatusCode)
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return typed(e)
}

// typed wraps e in the error type for its status.
func typed(e *APIError) error {
	switch e.Status {
	case http.StatusUnauthorized:
		return &AuthenticationError{e}
	case http.StatusForbidden:
		return &AuthorizationError{e}
	case http.StatusNotFound:
		return &NotFoundError{e}
	case http.StatusTooManyRequests:
		return &RateLimitError{e}
	}
	return e
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalidRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return CodePayloadTooLarge
	case http.StatusTooManyRequests:
		return CodeRateLimited
	}
	if status >= 500 {
		return CodeInternalError
	}
	return "http_" + strconv.Itoa(status)
}

func looksJSON(contentType string, body []byte) bool {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil &&
		(mt == "application/json" || mt == "application/problem+json") {
		return true
	}
	b := strings.TrimLeftFunc(string(body), unicode.IsSpace)
	return strings.HasPrefix(b, "{")
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// secretShapes matches JWTs and long hex strings (client secrets, launch
// tokens, nonces).
var secretShapes = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){0,2}|[0-9a-fA-F]{32,}`)

// scrub replaces each secret, and anything shaped like one, with "[redacted]".
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return secretShapes.ReplaceAllString(s, "[redacted]")
}

// invalidResponse reports a reply that could not be decoded.
func invalidResponse(status int, requestID, detail string) *APIError {
	return &APIError{
		Status:    status,
		Code:      CodeInvalidResponse,
		Title:     "Invalid Response",
		Detail:    detail,
		RequestID: requestID,
	}
}

// oneLine collapses whitespace runs (including newlines) to single spaces,
// drops control characters and cuts s to at most max runes.
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if unicode.IsControl(r) {
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// seconds formats d as whole seconds, rounded up: "60s", "1s".
func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return fmt.Sprintf("%ds", s)
}
