package broker

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
)

// jwtHeader is serialised in the key order the real broker emits (§3).
type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// claims is the JWT payload, in the real broker's key order and with its
// omission rules (§3).
type claims struct {
	Iss             string        `json:"iss"`
	Sub             string        `json:"sub"`
	Aud             []string      `json:"aud,omitempty"`
	Exp             int64         `json:"exp"`
	Nbf             int64         `json:"nbf"`
	Iat             int64         `json:"iat"`
	Jti             string        `json:"jti"`
	Sid             string        `json:"sid,omitempty"`
	Scope           []string      `json:"scope"`
	TaskID          string        `json:"task_id,omitempty"`
	OrchID          string        `json:"orch_id,omitempty"`
	DelegationChain []delegRecord `json:"delegation_chain,omitempty"`
	ChainHash       string        `json:"chain_hash,omitempty"`
}

// delegRecord is one link of a delegation chain (§3).
type delegRecord struct {
	Agent       string   `json:"agent"`
	Scope       []string `json:"scope"`
	DelegatedAt string   `json:"delegated_at"`
	Signature   string   `json:"signature"`
}

// Verification failures. Callers of the HTTP API only ever see one generic
// failure; the reasons appear in token_auth_failed audit details (§8).
var (
	errTokenMalformed = errors.New("malformed token")
	errTokenAlg       = errors.New("unsupported signing algorithm")
	errTokenKid       = errors.New("unknown key id")
	errTokenSignature = errors.New("invalid signature")
	errTokenClaims    = errors.New("missing required claims")
	errTokenExpired   = errors.New("token expired")
	errTokenNotYet    = errors.New("token not yet valid")
	errTokenIssuer    = errors.New("issuer mismatch")
	errTokenRevoked   = errors.New("token revoked")
)

// mint fills the time and id claims of c and signs it with ttl seconds of life.
func (s *Server) mint(c claims, ttl int) (string, claims) {
	now := s.now().Unix()
	c.Iss = s.cfg.Issuer
	c.Iat, c.Nbf, c.Exp = now, now, now+int64(ttl)
	if c.Exp < now { // only reachable with an unlimited MaxTTL
		c.Exp = math.MaxInt64
	}
	c.Jti = randHex(16)
	if c.Scope == nil {
		c.Scope = []string{}
	}
	return s.sign(c), c
}

func (s *Server) sign(c claims) string {
	signing := s.hdrSeg + "." + base64.RawURLEncoding.EncodeToString(mustJSON(c))
	sig := ed25519.Sign(s.priv, []byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// verify checks a compact JWS as §3 describes, revocation included.
func (s *Server) verify(tok string) (*claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errTokenMalformed
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errTokenMalformed
	}
	var h struct {
		Alg string  `json:"alg"`
		Kid *string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, errTokenMalformed
	}
	if h.Alg != "EdDSA" {
		return nil, errTokenAlg
	}
	if h.Kid != nil && *h.Kid != s.kid {
		return nil, errTokenKid
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !ed25519.Verify(s.pub, []byte(parts[0]+"."+parts[1]), sig) {
		return nil, errTokenSignature
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errTokenMalformed
	}
	var c claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, errTokenMalformed
	}
	if c.Sub == "" || c.Jti == "" {
		return nil, errTokenClaims
	}
	now := s.now().Unix()
	if c.Exp <= 0 || now > c.Exp {
		return nil, errTokenExpired
	}
	if c.Nbf != 0 && now < c.Nbf {
		return nil, errTokenNotYet
	}
	if s.cfg.Issuer != "" && c.Iss != s.cfg.Issuer {
		return nil, errTokenIssuer
	}
	if s.isRevoked(&c) {
		return nil, errTokenRevoked
	}
	return &c, nil
}

// Revocation levels (§7).
const (
	levelToken = "token"
	levelAgent = "agent"
	levelTask  = "task"
	levelChain = "chain"
)

// isRevoked reports whether any stored rule matches c (§7). Rules are
// permanent and so also hit tokens issued after them.
func (s *Server) isRevoked(c *claims) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.revoked[levelToken][c.Jti]; ok {
		return true
	}
	if _, ok := s.revoked[levelAgent][c.Sub]; ok {
		return true
	}
	if c.TaskID != "" {
		if _, ok := s.revoked[levelTask][c.TaskID]; ok {
			return true
		}
	}
	if len(c.DelegationChain) > 0 {
		if _, ok := s.revoked[levelChain][c.DelegationChain[0].Agent]; ok {
			return true
		}
	}
	return false
}

// revoke stores a rule; repeating one is a no-op.
func (s *Server) revoke(level, target string) {
	s.mu.Lock()
	s.revoked[level][target] = struct{}{}
	s.mu.Unlock()
}

// signRecord signs `agent|scope joined with ","|delegated_at` (§3).
func (s *Server) signRecord(agentID string, scope []string, delegatedAt string) string {
	msg := agentID + "|" + strings.Join(scope, ",") + "|" + delegatedAt
	return hex.EncodeToString(ed25519.Sign(s.priv, []byte(msg)))
}

// chainHash is the hex SHA-256 of the chain as compact encoding/json output,
// HTML escaping included (§3).
func chainHash(chain []delegRecord) string {
	sum := sha256.Sum256(mustJSON(chain))
	return hex.EncodeToString(sum[:])
}

// mustJSON marshals values whose types cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("broker: marshal: " + err.Error())
	}
	return b
}

// strictUnmarshal decodes a whole request body: wrong types, empty bodies and
// trailing data are errors, unknown fields are ignored (§4).
func strictUnmarshal(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body")
	}
	return json.Unmarshal(body, v)
}

// rfc3339Nano formats t the way the real broker's audit and delegation
// timestamps appear: UTC, up to 9 fractional digits, trailing zeros dropped.
func rfc3339Nano(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// rfc3339 formats t in UTC with whole seconds (app timestamps, expires_at).
func rfc3339(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
