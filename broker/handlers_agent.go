package broker

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantui/tenantui/scope"
)

// scopeCovered reports whether held covers the single required scope, by
// the broker's coverage rule (§2).
func scopeCovered(required string, held []string) bool {
	return scope.IsSubset([]string{required}, held)
}

// addSeconds adds ttl seconds to t, saturating instead of overflowing.
func addSeconds(t time.Time, ttl int) time.Time {
	const maxSec = int64(math.MaxInt64 / int64(time.Second))
	if int64(ttl) > maxSec {
		ttl = int(maxSec)
	}
	return t.Add(time.Duration(ttl) * time.Second)
}

type healthResponse struct {
	Status           string `json:"status"`
	Version          string `json:"version"`
	Uptime           int64  `json:"uptime"`
	DBConnected      bool   `json:"db_connected"`
	AuditEventsCount int    `json:"audit_events_count"`
}

// handleHealth serves GET /v1/health (§5): db_connected is true while a
// database is configured and its writes succeed.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{
		Status:           "ok",
		Version:          Version,
		Uptime:           int64(s.now().Sub(s.started) / time.Second),
		DBConnected:      s.db != nil && !s.dbFailed.Load(),
		AuditEventsCount: s.auditCount(),
	})
}

// handleMetrics serves GET /v1/metrics with a few Prometheus text lines.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	agents, apps := len(s.agents), len(s.apps)
	s.mu.RUnlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "# HELP agentwrit_audit_events_total Audit events recorded.\n# TYPE agentwrit_audit_events_total counter\nagentwrit_audit_events_total %d\n", s.auditCount())
	fmt.Fprintf(w, "# HELP agentwrit_agents_registered Agents registered.\n# TYPE agentwrit_agents_registered gauge\nagentwrit_agents_registered %d\n", agents)
	fmt.Fprintf(w, "# HELP agentwrit_apps_registered Apps registered, inactive included.\n# TYPE agentwrit_apps_registered gauge\nagentwrit_apps_registered %d\n", apps)
}

type challengeResponse struct {
	Nonce     string `json:"nonce"`
	ExpiresIn int    `json:"expires_in"`
}

// handleChallenge serves GET /v1/challenge: a fresh single-use 30 s nonce.
// Parity exception: when MaxLiveNonces nonces are live (a challenge flood)
// it answers 429 rate_limited, Retry-After the seconds until the oldest
// nonce expires; the real broker keeps every nonce, without bound.
func (s *Server) handleChallenge(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	n, wait, ok := s.nonces.issue(now)
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		writeProblem(w, r, http.StatusTooManyRequests, codeRateLimited,
			"too many outstanding challenges, try again later")
		return
	}
	s.pruneLaunch(now)
	writeJSON(w, http.StatusOK, challengeResponse{Nonce: n, ExpiresIn: nonceTTL})
}

// launchPruneMin is how many launch tokens the broker holds before it
// prunes the spent, expired ones.
const launchPruneMin = 64

// pruneLaunch drops, at most once a second and only once there are many,
// the launch tokens that are both spent and expired: either way they can
// only be refused (as expired, then as unknown), and a run of thousands of
// agents would otherwise keep every one in memory.
func (s *Server) pruneLaunch(now time.Time) {
	due := func() bool { return len(s.launch) >= launchPruneMin && now.Sub(s.launchSweep) >= time.Second }
	// Most calls find no sweep due: they must not wait for, nor hold up,
	// every token verification (which reads s.mu) just to learn that.
	s.mu.RLock()
	d := due()
	s.mu.RUnlock()
	if !d {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !due() {
		return
	}
	s.launchSweep = now
	for k, v := range s.launch {
		if v.consumed && now.After(v.expiresAt) {
			delete(s.launch, k)
		}
	}
}

// retrySeconds rounds a wait up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	sec := int((d + time.Second - 1) / time.Second)
	return max(sec, 1)
}

type registerRequest struct {
	LaunchToken    string   `json:"launch_token"`
	Nonce          string   `json:"nonce"`
	PublicKey      string   `json:"public_key"`
	Signature      string   `json:"signature"`
	OrchID         string   `json:"orch_id"`
	TaskID         string   `json:"task_id"`
	RequestedScope []string `json:"requested_scope"`
}

type registerResponse struct {
	AgentID     string `json:"agent_id"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// handleRegister serves POST /v1/register in the exact order of §5: body,
// launch token (expiry before consumption), scope (nothing consumed), nonce
// (consumed here), public key, signature over the hex-decoded nonce, then the
// launch token is spent and any later failure is a 500.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if !decodeBody(w, r, &req) {
		return
	}
	unauthorized := func(detail string) {
		writeProblem(w, r, http.StatusUnauthorized, codeUnauthorized, detail)
	}
	if req.LaunchToken == "" || req.Nonce == "" || req.PublicKey == "" || req.Signature == "" ||
		req.OrchID == "" || req.TaskID == "" {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "missing required field")
		return
	}
	if len(req.RequestedScope) == 0 {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "missing required field: requested_scope")
		return
	}

	// 2. Launch token.
	now := s.now()
	ltKey := launchKey(req.LaunchToken)
	s.mu.RLock()
	lt, found := s.launch[ltKey]
	var ltv launchToken
	if found {
		ltv = *lt
	}
	s.mu.RUnlock()
	switch {
	case !found:
		unauthorized("launch token: launch token not found")
		return
	case now.After(ltv.expiresAt):
		unauthorized("launch token: launch token expired")
		return
	case ltv.consumed:
		unauthorized("launch token: launch token already consumed")
		return
	}

	// 3. Scope; nothing is consumed yet.
	if !scope.IsSubset(req.RequestedScope, ltv.allowedScope) {
		s.record(AuditEvent{EventType: evRegistrationViolation, TaskID: req.TaskID, OrchID: req.OrchID,
			Detail:  fmt.Sprintf("scope violation: requested %s exceeds allowed %s", bracket(req.RequestedScope), bracket(ltv.allowedScope)),
			Outcome: outcomeDenied})
		writeProblem(w, r, http.StatusForbidden, codeScopeViolation, "requested scope exceeds allowed scope")
		return
	}

	// 4. The nonce is consumed whatever happens next.
	if nonceErr := s.nonces.consume(req.Nonce, now); nonceErr != "" {
		unauthorized(nonceErr)
		return
	}

	// 5. Public key: standard padded base64 of 32 raw bytes.
	pk, err := base64.StdEncoding.DecodeString(req.PublicKey)
	if err != nil {
		unauthorized("invalid Ed25519 public key: base64 decode failed")
		return
	}
	if len(pk) != ed25519.PublicKeySize {
		unauthorized("invalid Ed25519 public key: wrong key size")
		return
	}

	// 6. Signature over the 32 bytes of the hex-decoded nonce.
	sig, err := base64.StdEncoding.DecodeString(req.Signature)
	if err != nil {
		unauthorized("nonce signature verification failed: base64 decode failed")
		return
	}
	msg, err := hex.DecodeString(req.Nonce)
	if err != nil || !ed25519.Verify(ed25519.PublicKey(pk), msg, sig) {
		unauthorized("nonce signature verification failed")
		return
	}

	// 7. Spend a single-use launch token; later failures are 500s.
	if ltv.singleUse {
		s.mu.Lock()
		spent := lt.consumed
		lt.consumed = true
		s.mu.Unlock()
		if spent {
			unauthorized("consume launch token: launch token already consumed")
			return
		}
	}
	if !validSegment(req.OrchID) || !validSegment(req.TaskID) {
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "registration failed")
		return
	}
	agentID := fmt.Sprintf("spiffe://%s/agent/%s/%s/%s", s.cfg.TrustDomain, req.OrchID, req.TaskID, randHex(8))
	reqScope := append([]string(nil), req.RequestedScope...)
	ttl := s.clampTTL(ltv.maxTTL)
	tok, c := s.mint(claims{Sub: agentID, Aud: s.audience(), Scope: reqScope, TaskID: req.TaskID, OrchID: req.OrchID}, ttl)

	ag := agent{id: agentID, publicKey: ed25519.PublicKey(pk), scope: reqScope,
		taskID: req.TaskID, orchID: req.OrchID, appID: ltv.appID}
	s.mu.Lock()
	s.agents[agentID] = &ag
	s.mu.Unlock()

	appSuffix := ""
	if ltv.appID != "" {
		appSuffix = " app_id=" + ltv.appID
	}
	var consume write
	if ltv.singleUse {
		consume = s.wConsume(ltKey)
	}
	if err := s.recordAll([]AuditEvent{
		{EventType: evAgentRegistered, AgentID: agentID, TaskID: req.TaskID, OrchID: req.OrchID,
			Detail: "Agent registered with scope " + bracket(reqScope) + appSuffix, Outcome: outcomeSuccess},
		{EventType: evTokenIssued, AgentID: agentID, TaskID: req.TaskID, OrchID: req.OrchID,
			// Parity: the detail shows the launch token's max_ttl before clamping.
			Detail: fmt.Sprintf("Token issued, jti=%s, ttl=%d%s", c.Jti, ltv.maxTTL, appSuffix), Outcome: outcomeSuccess},
	}, consume, s.wAgent(ag)); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "registration failed")
		return
	}
	writeJSON(w, http.StatusOK, registerResponse{AgentID: agentID, AccessToken: tok, ExpiresIn: ttl})
}

// validSegment reports whether an orch_id or task_id can be a SPIFFE path
// segment: non-empty, not "." or "..", only A–Z a–z 0–9 . - _ (§3).
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plainChars[s[i]] {
			return false
		}
	}
	return true
}

type validateResponse struct {
	Valid  bool    `json:"valid"`
	Claims *claims `json:"claims,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// handleValidate serves POST /v1/token/validate: always 200 once the body is
// usable; the audience is not checked here (§3, §5).
func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	tok, ok := tokenBody(r)
	if !ok {
		var req struct {
			Token string `json:"token"`
		}
		if !decodeBody(w, r, &req) {
			return
		}
		tok = req.Token
	}
	if tok == "" {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "token field is required")
		return
	}
	c, err := s.verify(tok)
	if err != nil {
		writeJSON(w, http.StatusOK, validateResponse{Valid: false, Error: "token is invalid or expired"})
		return
	}
	writeJSON(w, http.StatusOK, validateResponse{Valid: true, Claims: c})
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// handleRenew serves POST /v1/token/renew: the presented jti is revoked, then
// a token with the same subject, scope, ids, chain and lifetime is issued.
func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	s.revoke(levelToken, c.Jti)
	ttl := s.clampTTL(int(c.Exp - c.Iat))
	tok, nc := s.mint(claims{Sub: c.Sub, Aud: c.Aud, Sid: c.Sid, Scope: c.Scope, TaskID: c.TaskID, OrchID: c.OrchID,
		DelegationChain: c.DelegationChain, ChainHash: c.ChainHash}, ttl)
	if err := s.record(AuditEvent{EventType: evTokenRenewed, AgentID: c.Sub, TaskID: c.TaskID, OrchID: c.OrchID,
		Detail: "token renewed for agent=" + c.Sub + " new_jti=" + nc.Jti, Outcome: outcomeSuccess},
		s.wRevoke(levelToken, c.Jti)); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "token renewal failed")
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, ExpiresIn: ttl})
}

// handleRelease serves POST /v1/token/release: 204, no body, own jti revoked.
func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	s.revoke(levelToken, c.Jti)
	if err := s.record(AuditEvent{EventType: evTokenReleased, AgentID: c.Sub, TaskID: c.TaskID, OrchID: c.OrchID,
		Detail: "token released | jti=" + c.Jti, Outcome: outcomeSuccess}, s.wRevoke(levelToken, c.Jti)); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "token release failed")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type delegateResponse struct {
	AccessToken     string        `json:"access_token"`
	ExpiresIn       int           `json:"expires_in"`
	DelegationChain []delegRecord `json:"delegation_chain"`
}

// handleDelegate serves POST /v1/delegate with the error order of §5.
func (s *Server) handleDelegate(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	var req struct {
		DelegateTo string   `json:"delegate_to"`
		Scope      []string `json:"scope"`
		TTL        int      `json:"ttl"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.DelegateTo == "" || len(req.Scope) == 0 {
		// Parity: the real broker answers 500 here, not 400 (§5, §11).
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "delegation failed")
		return
	}
	depth := len(c.DelegationChain)
	if depth >= maxDelegDepth {
		writeProblem(w, r, http.StatusForbidden, codeScopeViolation, "delegation depth limit exceeded")
		return
	}
	if !scope.IsSubset(req.Scope, c.Scope) {
		s.record(AuditEvent{EventType: evDelegationViolation, AgentID: c.Sub, TaskID: c.TaskID, OrchID: c.OrchID,
			Detail: fmt.Sprintf("delegation_attenuation_violation | delegator=%s | target=%s | requested=%s | allowed=%s",
				c.Sub, req.DelegateTo, bracket(req.Scope), bracket(c.Scope)),
			Outcome: outcomeDenied, DelegDepth: depth})
		writeProblem(w, r, http.StatusForbidden, codeScopeViolation, "delegated scope exceeds delegator scope")
		return
	}
	s.mu.RLock()
	_, known := s.agents[req.DelegateTo]
	s.mu.RUnlock()
	if !known {
		writeProblem(w, r, http.StatusNotFound, codeNotFound, "delegate agent not found")
		return
	}

	at := s.now().UTC()
	rec := delegRecord{Agent: c.Sub, Scope: c.Scope, DelegatedAt: at, Signature: s.signRecord(c.Sub, c.Scope, rfc3339Nano(at))}
	chain := append(append(make([]delegRecord, 0, depth+1), c.DelegationChain...), rec)
	hash := chainHash(chain)
	ttl := req.TTL
	if ttl <= 0 {
		ttl = defaultDelegTTL
	}
	ttl = s.clampTTL(ttl)
	tok, _ := s.mint(claims{Sub: req.DelegateTo, Aud: c.Aud, Scope: req.Scope, TaskID: c.TaskID, OrchID: c.OrchID,
		DelegationChain: chain, ChainHash: hash}, ttl)
	if err := s.record(AuditEvent{EventType: evDelegationCreated, AgentID: req.DelegateTo, TaskID: c.TaskID, OrchID: c.OrchID,
		Detail:     fmt.Sprintf("delegation from %s to %s scope=%s depth=%d", c.Sub, req.DelegateTo, bracket(req.Scope), len(chain)),
		Outcome:    outcomeSuccess,
		DelegDepth: len(chain), DelegChainHash: hash},
		s.wDelegation(c.Sub, req.DelegateTo, req.Scope, len(chain), hash, at)); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "delegation failed")
		return
	}
	writeJSON(w, http.StatusOK, delegateResponse{AccessToken: tok, ExpiresIn: ttl, DelegationChain: chain})
}
