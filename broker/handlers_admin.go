package broker

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantui/tenantui/scope"
)

type loginResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

type appLoginResponse struct {
	AccessToken string   `json:"access_token"`
	ExpiresIn   int      `json:"expires_in"`
	TokenType   string   `json:"token_type"`
	Scopes      []string `json:"scopes"`
}

func rateLimited(w http.ResponseWriter, r *http.Request, retryAfter string) {
	w.Header().Set("Retry-After", retryAfter)
	writeProblem(w, r, http.StatusTooManyRequests, codeRateLimited, "rate limit exceeded, try again later")
}

// secretEqual compares secrets in constant time (the real broker uses bcrypt).
func secretEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// handleAdminAuth serves POST /v1/admin/auth (§5), rate-limited per client IP
// (burst 10, 5/s, Retry-After 1, §6). Unlike every other JSON endpoint it
// refuses trailing data after the body's JSON value.
func (s *Server) handleAdminAuth(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.DisableRateLimits && !s.adminLimiter.allow(clientIP(r, s.cfg.TrustProxy), s.now()) {
		rateLimited(w, r, "1")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var legacy struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if strictUnmarshal(body, &legacy) == nil && (legacy.ClientID != "" || legacy.ClientSecret != "") {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest,
			`Admin auth format changed. Use {"secret": "..."} instead of client_id/client_secret`)
		return
	}
	var req struct {
		Secret string `json:"secret"`
	}
	if strictUnmarshal(body, &req) != nil {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, detailMalformed)
		return
	}
	if req.Secret == "" {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "secret is required")
		return
	}
	if s.cfg.AdminSecret == "" || !secretEqual(req.Secret, s.cfg.AdminSecret) {
		s.record(AuditEvent{EventType: evAdminAuthFailed, Detail: "failed admin authentication attempt", Outcome: outcomeDenied})
		writeProblem(w, r, http.StatusUnauthorized, codeUnauthorized, "invalid credentials")
		return
	}
	ttl := s.clampTTL(s.cfg.AdminTokenTTL)
	tok, _ := s.mint(claims{Sub: "admin", Aud: s.audience(), Scope: append([]string(nil), adminScopes...)}, ttl)
	s.record(AuditEvent{EventType: evAdminAuth, Detail: "admin authenticated as admin", Outcome: outcomeSuccess})
	writeJSON(w, http.StatusOK, loginResponse{AccessToken: tok, ExpiresIn: ttl, TokenType: "Bearer"})
}

// handleAppAuth serves POST /v1/app/auth (§5), rate-limited per client_id
// when the body is exactly one JSON object carrying one, else per client IP
// (burst 3, 1 per 6 s, Retry-After 60). The body itself is read leniently,
// so trailing data after it is ignored.
func (s *Server) handleAppAuth(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !s.cfg.DisableRateLimits {
		var k struct {
			ClientID string `json:"client_id"`
		}
		key := ""
		if strictUnmarshal(body, &k) == nil {
			key = k.ClientID
		}
		if key == "" {
			key = clientIP(r, s.cfg.TrustProxy)
		}
		if !s.appLimiter.allow(key, s.now()) {
			rateLimited(w, r, "60")
			return
		}
	}
	var req struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if lenientUnmarshal(body, &req) != nil {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, detailMalformed)
		return
	}
	if req.ClientID == "" || req.ClientSecret == "" {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "client_id and client_secret are required")
		return
	}
	s.mu.RLock()
	a := s.byClient[req.ClientID]
	var av app
	if a != nil {
		av = *a
	}
	s.mu.RUnlock()
	reason := ""
	switch {
	case a == nil:
		reason = "unknown_client_id"
	case av.status != "active":
		reason = "app_inactive"
	default:
		h := sha256.Sum256([]byte(req.ClientSecret))
		if subtle.ConstantTimeCompare(h[:], av.secretHash[:]) != 1 {
			reason = "wrong_secret"
		}
	}
	if reason != "" {
		s.record(AuditEvent{EventType: evAppAuthFailed, Detail: "client_id=" + req.ClientID + " reason=" + reason, Outcome: outcomeDenied})
		writeProblem(w, r, http.StatusUnauthorized, codeUnauthorized, "Authentication failed")
		return
	}
	ttl := s.clampTTL(av.tokenTTL)
	tok, c := s.mint(claims{Sub: "app:" + av.id, Aud: s.audience(), Scope: append([]string(nil), appScopes...)}, ttl)
	s.record(AuditEvent{EventType: evAppAuthenticated, Detail: "client_id=" + req.ClientID + " app_id=" + av.id, Outcome: outcomeSuccess})
	writeJSON(w, http.StatusOK, appLoginResponse{AccessToken: tok, ExpiresIn: ttl, TokenType: "Bearer", Scopes: c.Scope})
}

type launchTokenPolicy struct {
	AllowedScope []string `json:"allowed_scope"`
	MaxTTL       int      `json:"max_ttl"`
}

type launchTokenResponse struct {
	LaunchToken string            `json:"launch_token"`
	ExpiresAt   string            `json:"expires_at"`
	Policy      launchTokenPolicy `json:"policy"`
}

// handleLaunchToken serves both launch-token routes (§5). App callers (sub
// "app:<id>") are held to their app's ceiling, checked before the emptiness
// checks; admin callers are unconstrained.
func (s *Server) handleLaunchToken(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	var req struct {
		AgentName    string   `json:"agent_name"`
		AllowedScope []string `json:"allowed_scope"`
		MaxTTL       int      `json:"max_ttl"`
		SingleUse    *bool    `json:"single_use"`
		TTL          int      `json:"ttl"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	appID := ""
	if id, ok := strings.CutPrefix(c.Sub, "app:"); ok {
		appID = id
		s.mu.RLock()
		a := s.apps[id]
		var ceiling []string
		if a != nil {
			ceiling = a.scopes
		}
		s.mu.RUnlock()
		if a == nil {
			writeProblem(w, r, http.StatusForbidden, codeForbidden, "app not found")
			return
		}
		if !scope.IsSubset(req.AllowedScope, ceiling) {
			s.record(AuditEvent{EventType: evScopeCeilingExceeded, AgentID: c.Sub,
				Detail:  fmt.Sprintf("app=%s requested=%s ceiling=%s", id, bracket(req.AllowedScope), bracket(ceiling)),
				Outcome: outcomeDenied})
			writeProblem(w, r, http.StatusForbidden, codeForbidden,
				"requested scopes exceed app ceiling; allowed: "+bracket(ceiling))
			return
		}
	}
	deny := func(reason string) {
		s.record(AuditEvent{EventType: evLaunchTokenDenied, AgentID: c.Sub,
			Detail:  fmt.Sprintf("launch token denied for agent=%s by=%s reason=%s", req.AgentName, c.Sub, reason),
			Outcome: outcomeDenied})
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, reason)
	}
	if req.AgentName == "" {
		deny("agent_name is required")
		return
	}
	if len(req.AllowedScope) == 0 {
		deny("allowed_scope must not be empty")
		return
	}
	maxTTL := req.MaxTTL
	if maxTTL <= 0 {
		maxTTL = defaultAgentTTL
	}
	singleUse := req.SingleUse == nil || *req.SingleUse
	ttl := req.TTL
	if ttl <= 0 {
		ttl = defaultLaunchTTL
	}
	allowed := append([]string(nil), req.AllowedScope...)
	tok := randHex(32)
	expires := addSeconds(s.now(), ttl)
	lt := launchToken{agentName: req.AgentName, allowedScope: allowed, maxTTL: maxTTL, singleUse: singleUse,
		expiresAt: expires, appID: appID, createdBy: c.Sub}
	key := launchKey(tok)
	s.mu.Lock()
	s.launch[key] = &lt
	s.mu.Unlock()
	detail := fmt.Sprintf("launch token issued for agent=%s scope=%s max_ttl=%d created_by=%s", req.AgentName, bracket(allowed), maxTTL, c.Sub)
	if appID != "" {
		detail += " app_id=" + appID
	}
	if err := s.record(AuditEvent{EventType: evLaunchTokenIssued, Detail: detail, Outcome: outcomeSuccess},
		s.wLaunch(key, lt)); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "failed to create launch token")
		return
	}
	writeJSON(w, http.StatusCreated, launchTokenResponse{LaunchToken: tok, ExpiresAt: rfc3339(expires),
		Policy: launchTokenPolicy{AllowedScope: allowed, MaxTTL: maxTTL}})
}

type revokeResponse struct {
	Revoked bool   `json:"revoked"`
	Level   string `json:"level"`
	Target  string `json:"target"`
	Count   int    `json:"count"`
}

// handleRevoke serves POST /v1/revoke: stores a permanent rule; targets are
// not checked and count is always 1 (§5, §7).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	var req struct {
		Level  string `json:"level"`
		Target string `json:"target"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Level == "" || req.Target == "" {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "level and target are required")
		return
	}
	switch req.Level {
	case levelToken, levelAgent, levelTask, levelChain:
	default:
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "invalid revocation level: "+req.Level)
		return
	}
	s.revoke(req.Level, req.Target)
	if err := s.record(AuditEvent{EventType: evTokenRevoked, AgentID: req.Target,
		Detail: "revoked at level=" + req.Level + " target=" + req.Target, Outcome: outcomeSuccess},
		s.wRevoke(req.Level, req.Target)); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "revocation failed")
		return
	}
	writeJSON(w, http.StatusOK, revokeResponse{Revoked: true, Level: req.Level, Target: req.Target, Count: 1})
}

type auditResponse struct {
	Events []AuditEvent `json:"events"`
	Total  int          `json:"total"`
	Offset int          `json:"offset"`
	Limit  int          `json:"limit"`
}

// handleAudit serves GET /v1/audit/events (§5): exact-match filters,
// inclusive RFC 3339 since/until (ignored when unparseable), limit default
// 100 capped at 1000, offset, total before paging, oldest first.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	v := r.URL.Query()
	q := auditQuery{agentID: v.Get("agent_id"), taskID: v.Get("task_id"), eventType: v.Get("event_type"), outcome: v.Get("outcome")}
	if t, err := time.Parse(time.RFC3339, v.Get("since")); err == nil {
		q.since = &t
	}
	if t, err := time.Parse(time.RFC3339, v.Get("until")); err == nil {
		q.until = &t
	}
	if n, err := strconv.Atoi(v.Get("limit")); err == nil {
		q.limit = n
	}
	if n, err := strconv.Atoi(v.Get("offset")); err == nil {
		q.offset = n
	}
	events, total := s.query(q)
	limit := q.limit
	if limit <= 0 {
		limit = 100
	}
	writeJSON(w, http.StatusOK, auditResponse{Events: events, Total: total, Offset: q.offset, Limit: limit})
}
