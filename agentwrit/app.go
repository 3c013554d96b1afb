package agentwrit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// App is an AgentWrit app session (client_id + client_secret, flow B of §1).
// It logs in on first need, reuses the session until fewer than 60 s remain,
// lets concurrent callers share one login, waits out login rate limits
// within the caller's context, and on a 401 from an app-token call logs in
// again once and retries. Safe for concurrent use.
type App struct {
	c            *Client
	clientID     string
	clientSecret string
	sess         *session
	// ltMu serialises app launch-token requests (unless
	// WithParallelLaunchTokens): the real v2.0.0 broker answers concurrent
	// ones with a spurious 403 "app not found" when its SQLite app lookup
	// meets a lock (observed on loopback with 8 at once).
	ltMu sync.Mutex
}

// NewApp returns an app session for the broker at brokerURL. It does not
// contact the broker; see [App.Authenticate].
func NewApp(brokerURL, clientID, clientSecret string, opts ...Option) (*App, error) {
	switch {
	case strings.TrimSpace(clientID) == "":
		return nil, errors.New("agentwrit: new app: client ID is empty")
	case clientSecret == "":
		return nil, errors.New("agentwrit: new app: client secret is empty")
	}
	c, err := NewClient(brokerURL, opts...)
	if err != nil {
		return nil, err
	}
	a := &App{c: c, clientID: clientID, clientSecret: clientSecret}
	a.sess = newSession(c, "app login for "+clientID, func(ctx context.Context, r *TokenResponse) error {
		return c.appAuth(ctx, a.clientID, a.clientSecret, r)
	})
	return a, nil
}

// BrokerURL returns the broker's base URL.
func (a *App) BrokerURL() string { return a.c.BrokerURL() }

// ClientID returns the app's client_id.
func (a *App) ClientID() string { return a.clientID }

// Client returns the low-level client the app uses.
func (a *App) Client() *Client { return a.c }

// String describes the app without its secret.
func (a *App) String() string {
	return "agentwrit.App{broker=" + a.c.display + " client_id=" + a.clientID + "}"
}

// GoString is String, so that %#v cannot print the secret.
func (a *App) GoString() string { return a.String() }

// LogValue redacts the secret.
func (a *App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("broker", a.c.display), slog.String("client_id", a.clientID))
}

// Authenticate makes sure the app has a session with at least 60 s left,
// logging in now if needed (otherwise sessions are created lazily).
func (a *App) Authenticate(ctx context.Context) error {
	if _, err := a.sess.get(ctx); err != nil {
		return fmt.Errorf("agentwrit: app login for %s: %w", a.clientID, err)
	}
	return nil
}

// Health calls GET /v1/health.
func (a *App) Health(ctx context.Context) (*Health, error) { return a.c.Health(ctx) }

// Validate calls POST /v1/token/validate; see [Client.Validate].
func (a *App) Validate(ctx context.Context, token string) (*ValidateResult, error) {
	return a.c.Validate(ctx, token)
}

// LaunchTokenRequest is the body of POST /v1/app/launch-tokens and
// POST /v1/admin/launch-tokens (§5). Zero values leave the broker defaults:
// MaxTTL 300 s, SingleUse true, TTL 30 s.
type LaunchTokenRequest struct {
	AgentName    string   `json:"agent_name"`
	AllowedScope []string `json:"allowed_scope"`
	MaxTTL       int      `json:"max_ttl,omitempty"`    // TTL of agent tokens registered with it
	SingleUse    *bool    `json:"single_use,omitempty"` // nil: broker default (true)
	TTL          int      `json:"ttl,omitempty"`        // lifetime of the launch token itself
}

// LaunchPolicy is the policy a launch token carries.
type LaunchPolicy struct {
	AllowedScope []string `json:"allowed_scope"`
	MaxTTL       int      `json:"max_ttl"`
}

// LaunchToken is the reply of a launch-token request. Token is a bearer
// secret for one registration (64 hex); String and LogValue redact it.
type LaunchToken struct {
	Token     string       `json:"launch_token"`
	ExpiresAt string       `json:"expires_at"` // RFC 3339 UTC, whole seconds (truncated, §5)
	Policy    LaunchPolicy `json:"policy"`
}

// String describes the launch token with the secret redacted.
func (l LaunchToken) String() string {
	return fmt.Sprintf("launch token %s scope=%v max_ttl=%d expires=%s",
		redactSecret(l.Token), l.Policy.AllowedScope, l.Policy.MaxTTL, l.ExpiresAt)
}

// GoString is String, so that %#v cannot print the token.
func (l LaunchToken) GoString() string { return l.String() }

// LogValue redacts the token.
func (l LaunchToken) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("launch_token", redactSecret(l.Token)),
		slog.Any("allowed_scope", l.Policy.AllowedScope),
		slog.Int("max_ttl", l.Policy.MaxTTL),
		slog.String("expires_at", l.ExpiresAt),
	)
}

// CreateLaunchToken calls POST /v1/app/launch-tokens. The scope must stay
// within the app's ceiling, else an [*AuthorizationError] with Code
// [CodeForbidden].
func (a *App) CreateLaunchToken(ctx context.Context, req LaunchTokenRequest) (*LaunchToken, error) {
	lt, err := a.createLaunchToken(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("agentwrit: create launch token: %w", err)
	}
	return lt, nil
}

func (a *App) createLaunchToken(ctx context.Context, req LaunchTokenRequest) (*LaunchToken, error) {
	if req.AllowedScope == nil {
		req.AllowedScope = []string{}
	}
	if !a.c.cfg.parallelLaunch {
		a.ltMu.Lock()
		defer a.ltMu.Unlock()
	}
	var lt LaunchToken
	var err error
	for attempt := 1; ; attempt++ {
		err = a.sess.do(ctx, func(tok string) error {
			return a.c.call(ctx, http.MethodPost, "/v1/app/launch-tokens", tok, req, &lt)
		})
		if err == nil || attempt == spuriousAppNotFoundRetries || !isSpuriousAppNotFound(err) {
			break
		}
		// The app certainly exists (we just logged in as it): the broker's
		// lookup hit a database lock. Wait briefly and try again.
		select {
		case <-ctx.Done():
			return nil, err
		case <-a.c.cfg.after(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, err
	}
	return &lt, nil
}

// spuriousAppNotFoundRetries bounds the retries of a launch-token request
// refused with 403 forbidden "app not found" by a broker under lock
// contention.
const spuriousAppNotFoundRetries = 3

func isSpuriousAppNotFound(err error) bool {
	var ae *AuthorizationError
	return errors.As(err, &ae) && ae.Code == CodeForbidden && ae.Detail == "app not found"
}

// AgentOptions tunes [App.CreateAgent]. A nil *AgentOptions means defaults.
type AgentOptions struct {
	MaxTTL     int                // agent token TTL (launch token max_ttl); 0 => 300
	Label      string             // launch token agent_name; "" => "<orchID>/<taskID>"
	PrivateKey ed25519.PrivateKey // agent key; nil => a fresh key
}

// CreateAgent registers a new agent (§9): a single-use app launch token with
// allowed_scope = scope, a challenge, an Ed25519 signature over the
// hex-decoded nonce, then registration. The agent's scope is what the
// broker granted, read from its token.
//
// orchID and taskID become SPIFFE path segments and must be non-empty, not
// "." or "..", and use only A–Z a–z 0–9 . - _ (§3); they are checked here
// because the broker only notices after consuming the launch token.
func (a *App) CreateAgent(ctx context.Context, orchID, taskID string, scope []string, opts *AgentOptions) (*Agent, error) {
	var o AgentOptions
	if opts != nil {
		o = *opts
	}
	what := "agentwrit: create agent " + orchID + "/" + taskID
	if err := checkSegment("orch ID", orchID); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkSegment("task ID", taskID); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = 300
	}
	if o.Label == "" {
		o.Label = orchID + "/" + taskID
	}
	single := true
	lt, err := a.createLaunchToken(ctx, LaunchTokenRequest{
		AgentName:    o.Label,
		AllowedScope: scope,
		MaxTTL:       o.MaxTTL,
		SingleUse:    &single,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: launch token: %w", what, err)
	}
	g, err := a.c.registerAgent(ctx, lt.Token, orchID, taskID, scope, o.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return g, nil
}

// RegisterAgent registers an agent with a launch token obtained elsewhere
// (e.g. from [Admin.CreateLaunchToken], flow A): challenge, signature over
// the hex-decoded nonce with key (nil => a fresh key), registration.
func (c *Client) RegisterAgent(ctx context.Context, launchToken, orchID, taskID string, scope []string, key ed25519.PrivateKey) (*Agent, error) {
	g, err := c.registerAgent(ctx, launchToken, orchID, taskID, scope, key)
	if err != nil {
		return nil, fmt.Errorf("agentwrit: register agent %s/%s: %w", orchID, taskID, err)
	}
	return g, nil
}

func (c *Client) registerAgent(ctx context.Context, launchToken, orchID, taskID string, scope []string, key ed25519.PrivateKey) (*Agent, error) {
	if key == nil {
		var err error
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, fmt.Errorf("generate key: %w", err)
		}
	} else if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	var ch struct {
		Nonce string `json:"nonce"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/challenge", "", nil, &ch); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	req, err := NewRegisterRequest(launchToken, ch.Nonce, key, orchID, taskID, scope)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", invalidResponse(http.StatusOK, "", err.Error()))
	}
	var reg RegisterResponse
	if err := c.call(ctx, http.MethodPost, "/v1/register", "", req, &reg); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	replyAt := c.cfg.now()
	claims, err := ParseClaims(reg.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("register: %w", invalidResponse(http.StatusOK, "", "access_token is not a JWT"))
	}
	return newAgent(c, reg, claims, key, orchID, taskID, replyAt), nil
}

// NewRegisterRequest builds a registration body: it signs the bytes obtained
// by hex-decoding nonce (not its ASCII text) with key and encodes the public
// key and signature as standard base64 with padding (§5).
func NewRegisterRequest(launchToken, nonce string, key ed25519.PrivateKey, orchID, taskID string, scope []string) (RegisterRequest, error) {
	if len(key) != ed25519.PrivateKeySize {
		return RegisterRequest{}, fmt.Errorf("agentwrit: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) == 0 {
		return RegisterRequest{}, errors.New("agentwrit: nonce is not a hex string")
	}
	if scope == nil {
		scope = []string{}
	}
	return RegisterRequest{
		LaunchToken:    launchToken,
		Nonce:          nonce,
		PublicKey:      base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
		Signature:      base64.StdEncoding.EncodeToString(ed25519.Sign(key, raw)),
		OrchID:         orchID,
		TaskID:         taskID,
		RequestedScope: scope,
	}, nil
}

// checkSegment applies the broker's SPIFFE path-segment rule (§3).
func checkSegment(name, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", name)
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%s %q is not allowed", name, s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("%s %q has %q; only A-Z a-z 0-9 . - _ are allowed", name, s, r)
		}
	}
	return nil
}
