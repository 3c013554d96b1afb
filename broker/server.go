package broker

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Version is the broker version reported by GET /v1/health.
const Version = "2.0.0"

// Defaults of the real broker (protocol notes §3, §6).
const (
	defaultTrustDomain = "agentwrit.local"
	defaultAdminTTL    = 300
	defaultMaxTTL      = 86400
	defaultAppTTL      = 1800
	defaultAgentTTL    = 300 // launch token max_ttl ≤0, and any issued TTL ≤0
	defaultDelegTTL    = 60
	defaultLaunchTTL   = 30
	nonceTTL           = 30
	maxDelegDepth      = 5
	minAppTTL          = 60
	maxAppTTL          = 86400
	maxBodyBytes       = 1 << 20
)

// Fixed scopes of admin and app JWTs (§1).
var (
	adminScopes = []string{"admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"}
	appScopes   = []string{"app:launch-tokens:*", "app:agents:*", "app:audit:read"}
)

// Config configures a Server. Zero values give the real broker's defaults.
type Config struct {
	// AdminSecret is the operator secret for POST /v1/admin/auth. When it is
	// empty, admin authentication always fails with 401.
	AdminSecret string
	// TrustDomain is the SPIFFE trust domain of agent IDs; default "agentwrit.local".
	TrustDomain string
	// Issuer is the iss claim of issued tokens and, when non-empty, the issuer
	// every presented token must carry. Default "" (iss is then "").
	Issuer string
	// Audience, when non-empty, is put in the aud claim of admin, app and
	// agent tokens and required by every Bearer route. Default "" (no aud).
	Audience string
	// AdminTokenTTL is the admin JWT lifetime in seconds; default 300.
	AdminTokenTTL int
	// MaxTTL is the global maximum of any issued JWT lifetime in seconds.
	// 0 means the default 86400; a negative value means unlimited.
	MaxTTL int
	// DisableRateLimits turns off both login rate limiters (§6). Test-only.
	DisableRateLimits bool
	// Now is the clock used for every expiry, nonce, launch-token, rate-limit
	// and timestamp decision; default time.Now.
	Now func() time.Time
}

// Server is an in-memory AgentWrit v2.0.0 broker. It is safe for concurrent use.
type Server struct {
	cfg     Config
	maxTTL  int // 0 = unlimited
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	kid     string
	hdrSeg  string // base64url of the fixed JWT header
	started time.Time
	handler http.Handler

	adminLimiter *limiter
	appLimiter   *limiter

	audit auditLog
	sigs  sigCache // signatures already made or checked

	mu       sync.RWMutex
	apps     map[string]*app // by app_id
	appOrder []*app          // creation order
	byClient map[string]*app // by client_id
	appNames map[string]bool
	launch   map[string]*launchToken
	nonces   map[string]*nonce
	// nonceSweep is when expired nonces were last pruned.
	nonceSweep time.Time
	agents     map[string]*agent // by SPIFFE ID
	revoked    map[string]map[string]struct{}
}

// AppCredentials are the credentials of a newly registered app. ClientSecret
// is shown only once; the server keeps only its hash.
type AppCredentials struct {
	AppID        string
	ClientID     string
	ClientSecret string
}

// String redacts the secret so credentials can be printed safely.
func (c AppCredentials) String() string {
	return fmt.Sprintf("AppCredentials{AppID:%s ClientID:%s ClientSecret:[redacted]}", c.AppID, c.ClientID)
}

// LogValue redacts the secret in structured logs.
func (c AppCredentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("app_id", c.AppID), slog.String("client_id", c.ClientID),
		slog.String("client_secret", "[redacted]"))
}

type app struct {
	id         string
	name       string
	clientID   string
	secretHash [sha256.Size]byte
	scopes     []string
	tokenTTL   int
	status     string
	createdAt  time.Time
	updatedAt  time.Time
}

type launchToken struct {
	agentName    string
	allowedScope []string
	maxTTL       int
	singleUse    bool
	expiresAt    time.Time
	consumed     bool
	appID        string
	createdBy    string
}

type nonce struct {
	expiresAt time.Time
	consumed  bool
}

type agent struct {
	id        string
	publicKey ed25519.PublicKey
	scope     []string
	taskID    string
	orchID    string
	appID     string
}

// New returns a Server with a freshly generated Ed25519 signing key.
func New(cfg Config) (*Server, error) {
	if cfg.TrustDomain == "" {
		cfg.TrustDomain = defaultTrustDomain
	}
	if cfg.AdminTokenTTL == 0 {
		cfg.AdminTokenTTL = defaultAdminTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	maxTTL := cfg.MaxTTL
	switch {
	case maxTTL == 0:
		maxTTL = defaultMaxTTL
	case maxTTL < 0:
		maxTTL = 0
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("broker: generate signing key: %w", err)
	}
	s := &Server{
		cfg:          cfg,
		maxTTL:       maxTTL,
		priv:         priv,
		pub:          pub,
		kid:          thumbprint(pub),
		started:      cfg.Now(),
		adminLimiter: newLimiter(rate.Limit(5), 10),
		appLimiter:   newLimiter(rate.Every(6*time.Second), 3),
		apps:         map[string]*app{},
		byClient:     map[string]*app{},
		appNames:     map[string]bool{},
		launch:       map[string]*launchToken{},
		nonces:       map[string]*nonce{},
		agents:       map[string]*agent{},
		revoked: map[string]map[string]struct{}{
			levelToken: {}, levelAgent: {}, levelTask: {}, levelChain: {},
		},
	}
	s.hdrSeg = base64.RawURLEncoding.EncodeToString(mustJSON(jwtHeader{Alg: "EdDSA", Typ: "JWT", Kid: s.kid}))
	s.handler = s.routes()
	return s, nil
}

// Handler returns the broker's HTTP handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// KeyID returns the kid of issued tokens: the RFC 7638 thumbprint of the
// signing key (§3).
func (s *Server) KeyID() string { return s.kid }

// PublicKey returns the broker's Ed25519 public key, which verifies every
// token and every delegation record signature.
func (s *Server) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), s.pub...)
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// thumbprint is base64url-nopad(SHA-256 of the canonical OKP JWK), §3.
func thumbprint(pub ed25519.PublicKey) string {
	jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randHex returns n random bytes as 2n lowercase hex digits.
func randHex(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error since Go 1.24.
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// clampTTL applies the issue-time rules of §3: ≤0 becomes 300, and a TTL
// above the global maximum is cut to it.
func (s *Server) clampTTL(ttl int) int {
	if ttl <= 0 {
		ttl = defaultAgentTTL
	}
	if s.maxTTL > 0 && ttl > s.maxTTL {
		ttl = s.maxTTL
	}
	return ttl
}

// audience returns the aud claim for newly minted (non-derived) tokens.
func (s *Server) audience() []string {
	if s.cfg.Audience == "" {
		return nil
	}
	return []string{s.cfg.Audience}
}
