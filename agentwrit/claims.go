package agentwrit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DelegationRecord is one link of a delegated token's delegation_chain (§3):
// the delegator, its whole scope at the time, when, and the broker's
// Ed25519 signature (128 hex) over "agent|scope joined with ,|delegated_at".
type DelegationRecord struct {
	Agent       string   `json:"agent"`
	Scope       []string `json:"scope"`
	DelegatedAt string   `json:"delegated_at"` // RFC 3339 UTC, up to 9 fractional digits, exactly as sent
	Signature   string   `json:"signature"`
}

// Claims is the payload of a broker-issued JWT (§3). TaskID, OrchID, Aud,
// DelegationChain and ChainHash are absent on many tokens (admin and app
// tokens carry no task or orchestrator; only delegated tokens carry a chain).
type Claims struct {
	Iss             string             `json:"iss"`
	Sub             string             `json:"sub"`
	Aud             Audience           `json:"aud,omitempty"`
	Exp             int64              `json:"exp"`
	Nbf             int64              `json:"nbf"`
	Iat             int64              `json:"iat"`
	JTI             string             `json:"jti"`
	SID             string             `json:"sid,omitempty"`
	Scope           []string           `json:"scope"`
	TaskID          string             `json:"task_id,omitempty"`
	OrchID          string             `json:"orch_id,omitempty"`
	DelegationChain []DelegationRecord `json:"delegation_chain,omitempty"`
	ChainHash       string             `json:"chain_hash,omitempty"`
}

// Audience is the aud claim. RFC 7519 allows a string or an array of
// strings; the broker sends an array. Both decode to a list (an empty
// string to none).
type Audience []string

// UnmarshalJSON accepts a string, an array of strings or null.
func (a *Audience) UnmarshalJSON(b []byte) error {
	raw := strings.TrimSpace(string(b))
	switch {
	case raw == "null":
		*a = nil
	case strings.HasPrefix(raw, `"`):
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = nil
		if s != "" {
			*a = Audience{s}
		}
	default:
		var l []string
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("claim aud: %w", err)
		}
		*a = l
	}
	return nil
}

// ExpiresAt returns exp as a time (zero if exp is 0).
func (c Claims) ExpiresAt() time.Time { return unixTime(c.Exp) }

// IssuedAt returns iat as a time (zero if iat is 0).
func (c Claims) IssuedAt() time.Time { return unixTime(c.Iat) }

// Delegated reports whether the token was obtained by delegation.
func (c Claims) Delegated() bool { return len(c.DelegationChain) > 0 }

func unixTime(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

func (c Claims) clone() Claims {
	c.Aud = cloneStrings(c.Aud)
	c.Scope = cloneStrings(c.Scope)
	if c.DelegationChain != nil {
		chain := make([]DelegationRecord, len(c.DelegationChain))
		for i, r := range c.DelegationChain {
			r.Scope = cloneStrings(r.Scope)
			chain[i] = r
		}
		c.DelegationChain = chain
	}
	return c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// errNotJWT is wrapped by every ParseClaims error.
var errNotJWT = errors.New("not a JWT")

// ParseClaims decodes the payload segment of a compact JWS without verifying
// its signature: use it to read what the broker granted, never to decide
// whether a token is valid (that is [Client.Validate]'s job). Errors never
// contain the token.
func ParseClaims(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("agentwrit: parse claims: %w: %d segments, want 3", errNotJWT, len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("agentwrit: parse claims: %w: payload is not base64url", errNotJWT)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("agentwrit: parse claims: %w: payload is not a JSON claims object", errNotJWT)
	}
	return c, nil
}

// ChainHash returns the chain_hash the broker puts in a delegated token for
// chain (§3): lowercase hex SHA-256 of the chain as compact JSON, encoded like
// Go's encoding/json (which escapes <, > and &).
func ChainHash(chain []DelegationRecord) string {
	b, _ := json.Marshal(chain) // cannot fail: strings only
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ShortToken returns a display form of a token that cannot be used as a
// credential: its first 12 characters followed by "…"
// (e.g. "eyJhbGciOiJF…"). Tokens of 12 characters or fewer, which are not
// broker tokens, show only their first third.
func ShortToken(token string) string {
	if token == "" {
		return ""
	}
	if len(token) > 12 {
		return token[:12] + "…"
	}
	return token[:len(token)/3] + "…"
}

// redactSecret shows only the first 4 characters of a secret (client secret,
// launch token), enough to tell two apart, not enough to matter.
func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > 16 {
		return s[:4] + "…"
	}
	return "…"
}

// shortID shortens a jti or similar identifier for display.
func shortID(s string) string {
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}
