package broker

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Version is the broker version reported by GET /v1/health.
const Version = "2.0.0"

// Defaults of the real broker (§3, §6).
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
	// TrustProxy makes the per-client rate limits key on the last
	// X-Forwarded-For entry, the address a reverse proxy in front of the
	// broker saw. Off by default: the header is then ignored and limits key
	// on the connection's peer address, so a client cannot pick its own key.
	TrustProxy bool
	// MaxLiveNonces bounds the challenge nonces kept at once; beyond it
	// GET /v1/challenge answers 429 until the oldest expires. Default 65536.
	MaxLiveNonces int
	// Now is the clock used for every expiry, nonce, launch-token, rate-limit
	// and timestamp decision; default time.Now.
	Now func() time.Time
	// TLS, when set, makes Start serve HTTPS with it (with ClientAuth set,
	// mutual TLS) and every reply carry Strict-Transport-Security, as the
	// real broker does with AA_TLS_MODE=tls or mtls.
	TLS *tls.Config
	// DBPath, when set, keeps apps, the signing key, launch tokens, agents,
	// revocations, delegations and the audit chain in a SQLite database at
	// this path, so that they survive a restart; New loads and verifies it.
	// Empty: everything lives in memory. Call Close when done.
	DBPath string
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

	audit     auditLog
	sigs      sigCache    // signatures already made or checked
	nonces    *nonceStore // own lock
	db        *store      // nil: in memory only
	dbFailed  atomic.Bool // a write to db failed; health says db_connected:false
	closeOnce sync.Once
	closeErr  error

	mu       sync.RWMutex
	apps     map[string]*app // by app_id
	appOrder []*app          // creation order
	byClient map[string]*app // by client_id
	appNames map[string]bool
	launch   map[[sha256.Size]byte]*launchToken // by SHA-256 of the token
	// launchSweep is when spent, expired launch tokens were last pruned.
	launchSweep time.Time
	agents      map[string]*agent // by SPIFFE ID
	revoked     map[string]map[string]struct{}
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

type agent struct {
	id        string
	publicKey ed25519.PublicKey
	scope     []string
	taskID    string
	orchID    string
	appID     string
}

// New returns a Server. Without Config.DBPath it has a freshly generated
// Ed25519 signing key and empty state; with it, it uses the database's key
// and state (creating both on first use), after checking that the stored
// audit chain verifies end to end.
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
	if cfg.MaxLiveNonces <= 0 {
		cfg.MaxLiveNonces = defaultMaxLiveNonces
	}
	maxTTL := cfg.MaxTTL
	switch {
	case maxTTL == 0:
		maxTTL = defaultMaxTTL
	case maxTTL < 0:
		maxTTL = 0
	}
	s := &Server{
		cfg:          cfg,
		maxTTL:       maxTTL,
		started:      cfg.Now(),
		adminLimiter: newLimiter(rate.Limit(5), 10),
		appLimiter:   newLimiter(rate.Every(6*time.Second), 3),
		apps:         map[string]*app{},
		byClient:     map[string]*app{},
		appNames:     map[string]bool{},
		launch:       map[[sha256.Size]byte]*launchToken{},
		nonces:       newNonceStore(nonceTTL*time.Second, cfg.MaxLiveNonces),
		agents:       map[string]*agent{},
		revoked: map[string]map[string]struct{}{
			levelToken: {}, levelAgent: {}, levelTask: {}, levelChain: {},
		},
	}
	if cfg.DBPath == "" {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("broker: generate signing key: %w", err)
		}
		s.priv = priv
	} else if err := s.openDB(cfg.DBPath); err != nil {
		return nil, err
	}
	s.pub = s.priv.Public().(ed25519.PublicKey)
	s.kid = thumbprint(s.pub)
	s.hdrSeg = base64.RawURLEncoding.EncodeToString(mustJSON(jwtHeader{Alg: "EdDSA", Typ: "JWT", Kid: s.kid}))
	s.handler = s.routes()
	return s, nil
}

// openDB opens the database at path and loads the signing key and state.
func (s *Server) openDB(path string) error {
	st, err := openStore(path)
	if err != nil {
		return fmt.Errorf("broker: database %s: %w", path, err)
	}
	priv, err := st.signingKey()
	if err == nil {
		err = st.load(s)
	}
	if err != nil {
		st.close()
		return fmt.Errorf("broker: database %s: %w", path, err)
	}
	s.priv, s.db = priv, st
	return nil
}

// Close closes the database, if any; it is idempotent. The Server must not
// serve requests after.
func (s *Server) Close() error {
	if s.db == nil {
		return nil
	}
	s.closeOnce.Do(func() { s.closeErr = s.db.close() })
	return s.closeErr
}

// Persistent reports whether the Server keeps its state in a database.
func (s *Server) Persistent() bool { return s.db != nil }

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
