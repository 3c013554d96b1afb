package agentwrit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Reply size limits: an audit page of 1000 events is well under 1 MiB.
const (
	maxReplyBytes = 32 << 20
	maxErrorBytes = 64 << 10
)

// Client is the low-level part of the API: the unauthenticated endpoints
// (health, validate, challenge, register, logins) plus the calls an agent
// makes with a bearer token it holds (renew, release, delegate). It keeps no
// session and is safe for concurrent use.
type Client struct {
	base    string // normalized broker URL, no trailing slash
	display string // base with any password removed, for messages
	cfg     *config
	ua      []string // the User-Agent header's value
}

// Request header values shared by every request (transports read them and
// never change them in place), one allocation less per header per call.
var (
	hdrJSON   = []string{"application/json"}
	hdrAccept = []string{"application/json, application/problem+json"}
)

// NewClient returns a client for the broker at brokerURL
// (e.g. "http://127.0.0.1:8080"). The URL must be http or https with a host.
func NewClient(brokerURL string, opts ...Option) (*Client, error) {
	base, display, err := normalizeURL(brokerURL)
	if err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	return &Client{base: base, display: display, cfg: cfg, ua: []string{cfg.userAgent}}, nil
}

func normalizeURL(raw string) (base, display string, err error) {
	u, perr := url.Parse(strings.TrimSpace(raw))
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("agentwrit: invalid broker URL %q: want http:// or https:// followed by a host", redactURL(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("agentwrit: invalid broker URL %q: must not have a query or fragment", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), u.Redacted(), nil
}

// redactURL hides anything between "://" and "@" in an unparsable URL.
func redactURL(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		if j := strings.LastIndex(raw, "@"); j > i {
			return raw[:i+3] + "xxxxx" + raw[j:]
		}
	}
	return raw
}

// BrokerURL returns the broker's base URL (without a password, if it had one).
func (c *Client) BrokerURL() string { return c.display }

// String describes the client.
func (c *Client) String() string { return "agentwrit.Client{" + c.display + "}" }

// call performs one request. in, when non-nil, is sent as JSON; out, when
// non-nil, receives a 2xx JSON reply. bearer, when non-empty, is sent as
// "Authorization: Bearer <bearer>". The error is *TransportError, *APIError
// or one of the typed errors wrapping *APIError, without an op prefix.
func (c *Client) call(ctx context.Context, method, path, bearer string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, ok := []byte(nil), false
		if e, isE := in.(selfEncoder); isE {
			b, ok = e.encodeJSON()
		}
		if !ok {
			var err error
			if b, err = json.Marshal(in); err != nil {
				return fmt.Errorf("encode request: %w", err)
			}
		}
		body = bytes.NewReader(b)
	}
	op := method + " " + stripQuery(path)
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return &TransportError{Op: op, URL: c.display, Err: err}
	}
	if in != nil {
		req.Header["Content-Type"] = hdrJSON
	}
	req.Header["Accept"] = hdrAccept
	req.Header["User-Agent"] = c.ua
	if bearer != "" {
		req.Header["Authorization"] = []string{"Bearer " + bearer}
	}
	resp, err := c.cfg.httpClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error repeats the method and full URL; keep only the cause
			// (which still answers Timeout() for the http.Client timeout).
			err = ue.Err
		}
		return &TransportError{Op: op, URL: c.display, Err: err}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The status line is known; a broken body only loses the detail.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		secrets := []string{bearer}
		if h, ok := in.(secretHolder); ok {
			secrets = append(secrets, h.secrets()...)
		}
		return newAPIError(resp, data, c.cfg.now(), secrets)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	data, err := readReply(resp)
	if err != nil {
		return &TransportError{Op: "read " + op, URL: c.display, Err: err}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return invalidResponse(resp.StatusCode, resp.Header.Get("X-Request-ID"),
			"reply to "+op+" is not the expected JSON: "+err.Error())
	}
	return nil
}

// readReply reads a reply body of at most maxReplyBytes, in one allocation
// when its length is announced.
func readReply(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n < 0 || n > maxReplyBytes {
		return io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// secretHolder is a request body carrying secrets, which must be scrubbed
// from error details that echo the request (a proxy's error page, say).
type secretHolder interface{ secrets() []string }

func stripQuery(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return path[:i]
	}
	return path
}

// Health is the reply of GET /v1/health (§5).
type Health struct {
	Status           string `json:"status"`
	Version          string `json:"version"`
	Uptime           int64  `json:"uptime"` // seconds
	DBConnected      bool   `json:"db_connected"`
	AuditEventsCount int    `json:"audit_events_count"`
}

// Health calls GET /v1/health.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.call(ctx, http.MethodGet, "/v1/health", "", nil, &h); err != nil {
		return nil, fmt.Errorf("agentwrit: health: %w", err)
	}
	return &h, nil
}

// ValidateResult is the reply of POST /v1/token/validate. An invalid token is
// a normal outcome (Valid false, Error set), not a Go error.
type ValidateResult struct {
	Valid  bool    `json:"valid"`
	Claims *Claims `json:"claims,omitempty"`
	Error  string  `json:"error,omitempty"` // "token is invalid or expired" when Valid is false
}

// Validate asks the broker whether token is valid now (signature, expiry,
// revocation). It returns an error only when the broker could not answer
// (including 400 for an empty token); {"valid":false} is a normal result.
func (c *Client) Validate(ctx context.Context, token string) (*ValidateResult, error) {
	in := validateBody{token}
	var r ValidateResult
	if err := c.call(ctx, http.MethodPost, "/v1/token/validate", "", in, &r); err != nil {
		return nil, fmt.Errorf("agentwrit: validate: %w", err)
	}
	return &r, nil
}

type validateBody struct {
	Token string `json:"token,omitempty"`
}

func (b validateBody) secrets() []string { return []string{b.Token} }

// jwsChars says which bytes may appear in a compact JWS: base64url and dots.
var jwsChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	return t
}()

// selfEncoder is a request body that may encode itself, as json.Marshal
// would, more cheaply; ok false leaves it to json.Marshal.
type selfEncoder interface{ encodeJSON() (b []byte, ok bool) }

// encodeJSON writes {"token":"…"} directly when the token has only the
// characters of a compact JWS, which JSON leaves as they are.
func (b validateBody) encodeJSON() ([]byte, bool) {
	if b.Token == "" {
		return nil, false
	}
	for i := 0; i < len(b.Token); i++ {
		if !jwsChars[b.Token[i]] {
			return nil, false
		}
	}
	out := make([]byte, 0, len(b.Token)+len(`{"token":""}`))
	out = append(out, `{"token":"`...)
	out = append(out, b.Token...)
	return append(out, `"}`...), true
}

// Challenge calls GET /v1/challenge and returns a fresh single-use nonce
// (64 hex characters) and its lifetime in seconds (30).
func (c *Client) Challenge(ctx context.Context) (nonce string, expiresIn int, err error) {
	var r struct {
		Nonce     string `json:"nonce"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/challenge", "", nil, &r); err != nil {
		return "", 0, fmt.Errorf("agentwrit: challenge: %w", err)
	}
	return r.Nonce, r.ExpiresIn, nil
}

// RegisterRequest is the body of POST /v1/register (§5). PublicKey and
// Signature are standard base64 with padding; Signature is over the bytes
// obtained by hex-decoding Nonce. [NewRegisterRequest] builds one.
type RegisterRequest struct {
	LaunchToken    string   `json:"launch_token"`
	Nonce          string   `json:"nonce"`
	PublicKey      string   `json:"public_key"`
	Signature      string   `json:"signature"`
	OrchID         string   `json:"orch_id"`
	TaskID         string   `json:"task_id"`
	RequestedScope []string `json:"requested_scope"`
}

func (r RegisterRequest) secrets() []string { return []string{r.LaunchToken} }

// String describes the request with the launch token redacted.
func (r RegisterRequest) String() string {
	return fmt.Sprintf("register %s/%s scope=%v launch_token=%s", r.OrchID, r.TaskID, r.RequestedScope, redactSecret(r.LaunchToken))
}

// GoString is String, so that %#v cannot print the launch token.
func (r RegisterRequest) GoString() string { return r.String() }

// LogValue redacts the launch token.
func (r RegisterRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("orch_id", r.OrchID),
		slog.String("task_id", r.TaskID),
		slog.Any("requested_scope", r.RequestedScope),
		slog.String("launch_token", redactSecret(r.LaunchToken)),
	)
}

// RegisterResponse is the reply of POST /v1/register.
type RegisterResponse struct {
	AgentID     string `json:"agent_id"` // SPIFFE ID
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// String describes the reply with the token shortened.
func (r RegisterResponse) String() string {
	return fmt.Sprintf("registered %s token=%s expires_in=%d", r.AgentID, ShortToken(r.AccessToken), r.ExpiresIn)
}

// GoString is String, so that %#v cannot print the token.
func (r RegisterResponse) GoString() string { return r.String() }

// LogValue redacts the token.
func (r RegisterResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("agent_id", r.AgentID),
		slog.String("token", ShortToken(r.AccessToken)),
		slog.Int("expires_in", r.ExpiresIn),
	)
}

// Register calls POST /v1/register. Most callers want [App.CreateAgent] or
// [Client.RegisterAgent], which do the whole challenge-response.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (*RegisterResponse, error) {
	if req.RequestedScope == nil {
		req.RequestedScope = []string{}
	}
	var r RegisterResponse
	if err := c.call(ctx, http.MethodPost, "/v1/register", "", req, &r); err != nil {
		return nil, fmt.Errorf("agentwrit: register: %w", err)
	}
	return &r, nil
}

// Renew calls POST /v1/token/renew with token as bearer. The broker revokes
// token and returns a replacement with the same scope and TTL (§5).
func (c *Client) Renew(ctx context.Context, token string) (newToken string, expiresIn int, err error) {
	var r struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/token/renew", token, nil, &r); err != nil {
		return "", 0, fmt.Errorf("agentwrit: renew: %w", err)
	}
	return r.AccessToken, r.ExpiresIn, nil
}

// Release calls POST /v1/token/release with token as bearer, revoking it.
// Releasing an already released token is a 401 on the wire (§5); [Agent.Release]
// makes a second call a local no-op instead.
func (c *Client) Release(ctx context.Context, token string) error {
	if err := c.call(ctx, http.MethodPost, "/v1/token/release", token, nil, nil); err != nil {
		return fmt.Errorf("agentwrit: release: %w", err)
	}
	return nil
}

// Delegated is a token obtained by delegation (POST /v1/delegate).
type Delegated struct {
	Token     string             // the delegated JWT; never log it
	ExpiresIn int                // seconds
	Chain     []DelegationRecord // delegation_chain from the reply
	Claims    Claims             // decoded from Token (unverified)
}

// ShortToken returns the token's display form, see [ShortToken].
func (d *Delegated) ShortToken() string { return ShortToken(d.Token) }

// String is a redacted one-liner: delegate, scope, depth, jti prefix, expiry.
func (d *Delegated) String() string {
	return fmt.Sprintf("delegated to %s scope=%v depth=%d jti=%s expires=%s token=%s",
		d.Claims.Sub, d.Claims.Scope, len(d.Chain), shortID(d.Claims.JTI),
		fmtTime(d.Claims.ExpiresAt()), d.ShortToken())
}

// GoString is String, so that %#v cannot print the token.
func (d *Delegated) GoString() string { return d.String() }

// LogValue redacts the token.
func (d *Delegated) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("sub", d.Claims.Sub),
		slog.Any("scope", d.Claims.Scope),
		slog.Int("depth", len(d.Chain)),
		slog.String("jti", shortID(d.Claims.JTI)),
		slog.Time("expires_at", d.Claims.ExpiresAt()),
		slog.String("token", d.ShortToken()),
	)
}

// Delegate calls POST /v1/delegate with token as bearer, asking for a token
// for the registered agent delegateTo with scope (equal to or narrower than
// the presented token's). ttl ≤ 0 leaves the broker default (60 s).
func (c *Client) Delegate(ctx context.Context, token, delegateTo string, scope []string, ttl int) (*Delegated, error) {
	if scope == nil {
		scope = []string{}
	}
	in := struct {
		DelegateTo string   `json:"delegate_to"`
		Scope      []string `json:"scope"`
		TTL        int      `json:"ttl,omitempty"`
	}{delegateTo, scope, max(ttl, 0)}
	var r struct {
		AccessToken     string             `json:"access_token"`
		ExpiresIn       int                `json:"expires_in"`
		DelegationChain []DelegationRecord `json:"delegation_chain"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/delegate", token, in, &r); err != nil {
		return nil, fmt.Errorf("agentwrit: delegate: %w", err)
	}
	claims, err := ParseClaims(r.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("agentwrit: delegate: %w", invalidResponse(http.StatusOK, "", "delegated access_token is not a JWT"))
	}
	return &Delegated{Token: r.AccessToken, ExpiresIn: r.ExpiresIn, Chain: r.DelegationChain, Claims: claims}, nil
}

// TokenResponse is the reply of POST /v1/admin/auth and POST /v1/app/auth.
type TokenResponse struct {
	AccessToken string   `json:"access_token"`
	ExpiresIn   int      `json:"expires_in"`
	TokenType   string   `json:"token_type"`       // "Bearer"
	Scopes      []string `json:"scopes,omitempty"` // app login only
}

// String describes the reply with the token shortened.
func (t TokenResponse) String() string {
	return fmt.Sprintf("%s token=%s expires_in=%d scopes=%v", t.TokenType, ShortToken(t.AccessToken), t.ExpiresIn, t.Scopes)
}

// GoString is String, so that %#v cannot print the token.
func (t TokenResponse) GoString() string { return t.String() }

// LogValue redacts the token.
func (t TokenResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token", ShortToken(t.AccessToken)),
		slog.Int("expires_in", t.ExpiresIn),
		slog.Any("scopes", t.Scopes),
	)
}

// AdminAuth calls POST /v1/admin/auth once (no retry, no session). [Admin]
// is the session-keeping form.
func (c *Client) AdminAuth(ctx context.Context, secret string) (*TokenResponse, error) {
	var r TokenResponse
	if err := c.adminAuth(ctx, secret, &r); err != nil {
		return nil, fmt.Errorf("agentwrit: admin login: %w", err)
	}
	return &r, nil
}

func (c *Client) adminAuth(ctx context.Context, secret string, r *TokenResponse) error {
	return c.call(ctx, http.MethodPost, "/v1/admin/auth", "", adminAuthBody{secret}, r)
}

type adminAuthBody struct {
	Secret string `json:"secret,omitempty"`
}

func (b adminAuthBody) secrets() []string { return []string{b.Secret} }

// AppAuth calls POST /v1/app/auth once (no retry, no session). [App] is the
// session-keeping form.
func (c *Client) AppAuth(ctx context.Context, clientID, clientSecret string) (*TokenResponse, error) {
	var r TokenResponse
	if err := c.appAuth(ctx, clientID, clientSecret, &r); err != nil {
		return nil, fmt.Errorf("agentwrit: app login: %w", err)
	}
	return &r, nil
}

func (c *Client) appAuth(ctx context.Context, clientID, clientSecret string, r *TokenResponse) error {
	return c.call(ctx, http.MethodPost, "/v1/app/auth", "", appAuthBody{clientID, clientSecret}, r)
}

type appAuthBody struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (b appAuthBody) secrets() []string { return []string{b.ClientSecret} }

// CloseIdleConnections closes the client's idle keep-alive connections, so
// that a server shutting down does not wait for them.
func (c *Client) CloseIdleConnections() { c.cfg.httpClient.CloseIdleConnections() }
