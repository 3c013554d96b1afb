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
	"unicode/utf8"
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

// delegRecord is one link of a delegation chain (§3). DelegatedAt is a
// time, as in the real broker: a presented token whose delegated_at is not
// RFC 3339 fails to decode (so is invalid), and echoed claims re-serialise it
// in Go's RFC3339Nano form (a missing or null one becomes the zero time). An
// empty signature is omitted.
type delegRecord struct {
	Agent       string    `json:"agent"`
	Scope       []string  `json:"scope"`
	DelegatedAt time.Time `json:"delegated_at"`
	Signature   string    `json:"signature,omitempty"`
}

// Verification failures. Callers of the HTTP API only ever see one generic
// failure; the reasons appear, with the real broker's wording, in
// token_auth_failed audit details (§8).
var (
	errTokenFormat    = errors.New("invalid token format") // segments, header, alg, kid, payload
	errTokenSignature = errors.New("signature verification failed")
	errTokenNoSubject = errors.New("missing subject")
	errTokenNoJTI     = errors.New("missing jti")
	errTokenNoExpiry  = errors.New("token has no expiry")
	errTokenExpired   = errors.New("token expired")
	errTokenNotYet    = errors.New("token not yet valid")
	errTokenIssuer    = errors.New("invalid issuer")
	errTokenRevoked   = errors.New("token has been revoked")
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
	// A nil scope stays null: only a renewed scope-less (forged) token has one.
	return s.sign(c), c
}

func (s *Server) sign(c claims) string {
	signing := s.hdrSeg + "." + base64.RawURLEncoding.EncodeToString(mustJSON(c))
	sig := ed25519.Sign(s.priv, []byte(signing))
	tok := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	s.sigs.add(tok, asDecoded(c))
	return tok
}

// asDecoded returns a copy of c as decoding its JSON would give it, for the
// signature cache, so that the first verification of a token this server
// minted need not decode it; nil where the round trip could change
// something: a delegation chain (times), a string that is not valid UTF-8
// (replaced on encoding), an empty but non-nil audience (dropped).
func asDecoded(c claims) *claims {
	if c.DelegationChain != nil || c.Aud != nil && len(c.Aud) == 0 {
		return nil
	}
	for _, v := range [...]string{c.Iss, c.Sub, c.Jti, c.Sid, c.TaskID, c.OrchID, c.ChainHash} {
		if !utf8.ValidString(v) {
			return nil
		}
	}
	for _, l := range [2][]string{c.Aud, c.Scope} {
		for _, v := range l {
			if !utf8.ValidString(v) {
				return nil
			}
		}
	}
	return c.clone()
}

// verify checks a compact JWS as §3 describes, revocation included, in the
// real broker's order (which decides the audit reason): format, header, alg,
// kid, signature, payload, sub, jti, exp > 0, expiry, nbf, issuer, revocation.
// Like the real broker it splits into at most three parts, so a token with
// extra dots fails at the signature.
func (s *Server) verify(tok string) (*claims, error) {
	c, known := s.sigs.get(tok)
	if c == nil {
		var err error
		if c, err = s.decode(tok, known); err != nil {
			return nil, err
		}
	}
	now := s.now().Unix()
	switch {
	case c.Sub == "":
		return nil, errTokenNoSubject
	case c.Jti == "":
		return nil, errTokenNoJTI
	case c.Exp <= 0:
		return nil, errTokenNoExpiry
	case now > c.Exp:
		return nil, errTokenExpired
	case c.Nbf != 0 && now < c.Nbf:
		return nil, errTokenNotYet
	case s.cfg.Issuer != "" && c.Iss != s.cfg.Issuer:
		return nil, errTokenIssuer
	case s.isRevoked(c):
		return nil, errTokenRevoked
	}
	return c, nil
}

// decode checks tok's format, header and signature (unless known: the cache
// holds it) and decodes its claims, caching them.
func (s *Server) decode(tok string, known bool) (*claims, error) {
	parts := strings.SplitN(tok, ".", 3)
	if len(parts) != 3 {
		return nil, errTokenFormat
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errTokenFormat
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, errTokenFormat
	}
	// A missing, null or empty kid is accepted.
	if h.Alg != "EdDSA" || h.Kid != "" && h.Kid != s.kid {
		return nil, errTokenFormat
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !s.verifySig(tok, parts[0]+"."+parts[1], sig, known) {
		return nil, errTokenSignature
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errTokenFormat
	}
	var c claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, errTokenFormat
	}
	s.sigs.add(tok, c.clone())
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

// strictUnmarshal decodes a whole body: wrong types, empty bodies and
// trailing data are errors, unknown fields are ignored. Only admin auth (and
// the app-auth rate-limit key) read bodies this way (§4).
func strictUnmarshal(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body")
	}
	return json.Unmarshal(body, v)
}

// lenientUnmarshal decodes the first JSON value of body and ignores whatever
// follows it, as the real broker's streaming decoder does on every JSON
// endpoint but admin auth. Empty bodies and wrong types are still errors.
func lenientUnmarshal(body []byte, v any) error {
	// Most bodies are one JSON value and nothing else: Unmarshal decodes
	// them without the stream's buffer and copy. It checks the whole body
	// before decoding, so on a syntax error (trailing data, say) v is
	// untouched and the stream decides, as before.
	err := json.Unmarshal(body, v)
	if se := (*json.SyntaxError)(nil); err == nil || !errors.As(err, &se) {
		return err
	}
	return json.NewDecoder(bytes.NewReader(body)).Decode(v)
}

// rfc3339Nano formats t the way the real broker's audit and delegation
// timestamps appear: UTC, up to 9 fractional digits, trailing zeros dropped.
func rfc3339Nano(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// rfc3339 formats t in UTC with whole seconds (app timestamps, expires_at).
func rfc3339(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
