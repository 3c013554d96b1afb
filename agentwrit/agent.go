package agentwrit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tenantui/tenantui/scope"
)

// Agent is a registered agent holding its current token. Its methods are safe
// for concurrent use: Renew replaces the token, jti and times in place, and
// Renew/Release wait for in-flight Delegate calls (and vice versa) so that no
// call presents a token that is being renewed away.
type Agent struct {
	c      *Client
	id     string
	orchID string
	taskID string
	key    ed25519.PrivateKey

	opMu sync.RWMutex // Renew/Release hold it exclusively, Delegate shared

	mu        sync.RWMutex
	token     string
	short     string // ShortToken(token), made once per token
	claims    Claims
	expiresIn int
	expiresAt time.Time
	released  bool
}

func newAgent(c *Client, reg RegisterResponse, claims Claims, key ed25519.PrivateKey, orchID, taskID string, replyAt time.Time) *Agent {
	g := &Agent{c: c, id: reg.AgentID, orchID: orchID, taskID: taskID, key: key}
	if g.id == "" {
		g.id = claims.Sub
	}
	if claims.OrchID != "" {
		g.orchID = claims.OrchID
	}
	if claims.TaskID != "" {
		g.taskID = claims.TaskID
	}
	g.setToken(reg.AccessToken, reg.ExpiresIn, claims, replyAt)
	return g
}

// setToken stores a token; g.mu must not be held.
func (g *Agent) setToken(token string, expiresIn int, claims Claims, replyAt time.Time) {
	exp := claims.ExpiresAt()
	if exp.IsZero() {
		exp = replyAt.Add(time.Duration(expiresIn) * time.Second)
	}
	short := ShortToken(token)
	g.mu.Lock()
	g.token, g.short, g.expiresIn, g.claims, g.expiresAt = token, short, expiresIn, claims, exp
	g.mu.Unlock()
}

// ID returns the agent's SPIFFE ID.
func (g *Agent) ID() string { return g.id }

// OrchID returns the orchestrator id the agent was registered with.
func (g *Agent) OrchID() string { return g.orchID }

// TaskID returns the task id the agent was registered with.
func (g *Agent) TaskID() string { return g.taskID }

// PublicKey returns the agent's Ed25519 public key.
func (g *Agent) PublicKey() ed25519.PublicKey { return g.key.Public().(ed25519.PublicKey) }

// Scope returns the scope granted in the current token's claims (which is
// what the broker enforces), not the scope that was requested.
func (g *Agent) Scope() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return cloneStrings(g.claims.Scope)
}

// Covers reports whether the agent's granted scope covers every required
// scope under the broker's rule (§2).
func (g *Agent) Covers(required ...string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return scope.IsSubset(required, g.claims.Scope)
}

// JTI returns the current token's jti.
func (g *Agent) JTI() string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.claims.JTI
}

// IssuedAt returns the current token's iat.
func (g *Agent) IssuedAt() time.Time {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.claims.IssuedAt()
}

// ExpiresAt returns the current token's exp (or, for a token without exp,
// the local reply time plus expires_in).
func (g *Agent) ExpiresAt() time.Time {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.expiresAt
}

// Claims returns a copy of the current token's claims (unverified decode).
func (g *Agent) Claims() Claims {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.claims.clone()
}

// Token returns the full current JWT, for presenting to a resource server.
// Never log or display it; use [Agent.ShortToken] for that.
func (g *Agent) Token() string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.token
}

// ShortToken returns the current token's display form, see [ShortToken].
func (g *Agent) ShortToken() string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.short
}

// Released reports whether Release has been called successfully (or was
// answered 401, meaning the token was already dead).
func (g *Agent) Released() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.released
}

// String is a redacted one-liner: ID, scope, jti prefix and expiry.
func (g *Agent) String() string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	s := fmt.Sprintf("agent %s scope=[%s] jti=%s expires=%s",
		g.id, strings.Join(g.claims.Scope, " "), shortID(g.claims.JTI), fmtTime(g.expiresAt))
	if g.released {
		s += " released"
	}
	return s
}

// GoString is String, so that %#v cannot print the token or key.
func (g *Agent) GoString() string { return g.String() }

// LogValue is the redacted slog form.
func (g *Agent) LogValue() slog.Value {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return slog.GroupValue(
		slog.String("id", g.id),
		slog.Any("scope", cloneStrings(g.claims.Scope)),
		slog.String("jti", shortID(g.claims.JTI)),
		slog.Time("expires_at", g.expiresAt),
		slog.String("token", ShortToken(g.token)),
		slog.Bool("released", g.released),
	)
}

// Renew calls POST /v1/token/renew and replaces the token, jti and times in
// place (the old token is dead afterwards, §5). A released or revoked
// agent's renew fails with an [*AuthenticationError].
func (g *Agent) Renew(ctx context.Context) error {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	tok, expiresIn, err := g.c.Renew(ctx, g.Token())
	if err != nil {
		return fmt.Errorf("agentwrit: renew %s: %w", g.id, unwrapOp(err))
	}
	replyAt := g.c.cfg.now()
	claims, perr := ParseClaims(tok)
	if perr != nil {
		// The old token is already revoked: keep the new one anyway.
		g.mu.Lock()
		g.token, g.expiresIn, g.expiresAt = tok, expiresIn, replyAt.Add(time.Duration(expiresIn)*time.Second)
		g.mu.Unlock()
		return fmt.Errorf("agentwrit: renew %s: %w", g.id, invalidResponse(http.StatusOK, "", "renewed access_token is not a JWT"))
	}
	g.setToken(tok, expiresIn, claims, replyAt)
	return nil
}

// Release calls POST /v1/token/release, revoking the agent's token. A second
// call is a local no-op returning nil (the broker would answer 401). If the
// broker answers 401 (token already expired or revoked) the agent still
// counts as released and the error is returned.
func (g *Agent) Release(ctx context.Context) error {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if g.Released() {
		return nil
	}
	err := g.c.Release(ctx, g.Token())
	var ae *AuthenticationError
	if err == nil || errors.As(err, &ae) {
		g.mu.Lock()
		g.released = true
		g.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("agentwrit: release %s: %w", g.id, unwrapOp(err))
	}
	return nil
}

// Delegate asks the broker for a token for the registered agent delegateTo
// (a SPIFFE ID) with scope, which must be covered by this agent's scope (else
// an [*AuthorizationError] with Code [CodeScopeViolation]). ttl ≤ 0 means
// the broker default (60 s).
func (g *Agent) Delegate(ctx context.Context, delegateTo string, scope []string, ttl int) (*Delegated, error) {
	g.opMu.RLock()
	defer g.opMu.RUnlock()
	d, err := g.c.Delegate(ctx, g.Token(), delegateTo, scope, ttl)
	if err != nil {
		return nil, fmt.Errorf("agentwrit: delegate from %s: %w", g.id, unwrapOp(err))
	}
	return d, nil
}

// unwrapOp drops the "agentwrit: <op>: " prefix of a Client method's error
// so that Agent methods can add their own context without repeating it.
func unwrapOp(err error) error {
	if w, ok := err.(interface{ Unwrap() error }); ok {
		if inner := w.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
