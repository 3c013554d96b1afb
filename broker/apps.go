package broker

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/tenantui/tenantui/scope"
)

// Errors returned by RegisterApp; POST /v1/admin/apps maps them to the real
// broker's replies (§5).
var (
	// ErrAppNameRequired reports an empty name (400 "name is required").
	ErrAppNameRequired = errors.New("name is required")
	// ErrAppScopesEmpty reports an empty scope ceiling (400).
	ErrAppScopesEmpty = errors.New("scopes must not be empty")
	// ErrAppInvalidName reports a name outside the app name grammar (400).
	ErrAppInvalidName = errors.New("invalid app name: must be lowercase letters, digits, and hyphens")
	// ErrAppInvalidScope reports a ceiling scope that is not action:resource:identifier (400).
	ErrAppInvalidScope = errors.New("invalid scope format: use action:resource:identifier")
	// ErrAppInvalidTTL reports a token TTL outside 60–86400 (400 invalid_ttl).
	ErrAppInvalidTTL = errors.New("invalid token TTL")
	// ErrAppDuplicate reports a name already taken, active or not; the real
	// broker answers it with 500 "failed to register app".
	ErrAppDuplicate = errors.New("app name already registered")
)

// appNameRe: a lowercase letter, a lowercase letter or digit, then lowercase
// letters and digits with single inner hyphens; at most 64 characters.
var appNameRe = regexp.MustCompile(`^[a-z][a-z0-9](?:[a-z0-9]|-[a-z0-9])*$`)

func ttlError(n int) error {
	return fmt.Errorf("%w: must be between %d and %d seconds, got %d", ErrAppInvalidTTL, minAppTTL, maxAppTTL, n)
}

func validScopes(ss []string) bool {
	for _, s := range ss {
		if !scope.Valid(s) {
			return false
		}
	}
	return true
}

// abbrev is the client_id prefix: the first two characters of a one-word
// name, else the initials of the first three hyphen-separated words (§3).
func abbrev(name string) string {
	parts := strings.Split(name, "-")
	if len(parts) == 1 {
		return name[:min(2, len(name))]
	}
	var b strings.Builder
	for _, p := range parts {
		if p != "" {
			b.WriteByte(p[0])
		}
		if b.Len() == 3 {
			break
		}
	}
	return b.String()
}

// RegisterApp registers an app in-process with the same validation and
// app_registered audit event as POST /v1/admin/apps (created by "admin") and
// returns its credentials. tokenTTL 0 means the default 1800 s. Errors wrap
// the ErrApp* sentinels.
func (s *Server) RegisterApp(name string, scopes []string, tokenTTL int) (AppCredentials, error) {
	var ttl *int
	if tokenTTL != 0 {
		ttl = &tokenTTL
	}
	a, secret, err := s.createApp(name, scopes, ttl)
	if err != nil {
		return AppCredentials{}, fmt.Errorf("broker: register app %q: %w", name, err)
	}
	return AppCredentials{AppID: a.id, ClientID: a.clientID, ClientSecret: secret}, nil
}

// createApp validates in the real broker's order and stores a new app.
// ttl nil means the default.
func (s *Server) createApp(name string, scopes []string, ttl *int) (app, string, error) {
	switch {
	case name == "":
		return app{}, "", ErrAppNameRequired
	case len(scopes) == 0:
		return app{}, "", ErrAppScopesEmpty
	case ttl != nil && *ttl <= 0:
		return app{}, "", ttlError(*ttl)
	case len(name) > 64 || !appNameRe.MatchString(name):
		return app{}, "", ErrAppInvalidName
	case !validScopes(scopes):
		return app{}, "", ErrAppInvalidScope
	case ttl != nil && (*ttl < minAppTTL || *ttl > maxAppTTL):
		return app{}, "", ttlError(*ttl)
	}
	tokenTTL := defaultAppTTL
	if ttl != nil {
		tokenTTL = *ttl
	}
	secret := randHex(32)
	now := s.now()
	a := &app{
		id:         "app-" + name + "-" + randHex(3),
		name:       name,
		secretHash: sha256.Sum256([]byte(secret)),
		scopes:     append([]string(nil), scopes...),
		tokenTTL:   tokenTTL,
		status:     "active",
		createdAt:  now,
		updatedAt:  now,
	}
	s.mu.Lock()
	if s.appNames[name] {
		s.mu.Unlock()
		return app{}, "", ErrAppDuplicate
	}
	for {
		a.clientID = abbrev(name) + "-" + randHex(6)
		if s.byClient[a.clientID] == nil {
			break
		}
	}
	s.appNames[name] = true
	s.apps[a.id] = a
	s.byClient[a.clientID] = a
	s.appOrder = append(s.appOrder, a)
	out := *a
	s.mu.Unlock()
	if err := s.record(AuditEvent{EventType: evAppRegistered,
		Detail:  fmt.Sprintf("app=%s client_id=%s scopes=%s token_ttl=%d", name, a.clientID, bracket(out.scopes), tokenTTL),
		Outcome: outcomeSuccess}, s.wApp(a.id)); err != nil {
		return app{}, "", err
	}
	return out, secret, nil
}

// appJSON is the app object with the real broker's key order and omissions.
type appJSON struct {
	AppID          string   `json:"app_id"`
	Name           string   `json:"name"`
	ClientID       string   `json:"client_id"`
	ClientSecret   string   `json:"client_secret,omitempty"`
	Scopes         []string `json:"scopes"`
	TokenTTL       int      `json:"token_ttl"`
	Status         string   `json:"status"`
	CreatedAt      string   `json:"created_at,omitempty"`
	UpdatedAt      string   `json:"updated_at,omitempty"`
	DeregisteredAt string   `json:"deregistered_at,omitempty"`
}

func (a app) json() appJSON {
	return appJSON{AppID: a.id, Name: a.name, ClientID: a.clientID, Scopes: a.scopes, TokenTTL: a.tokenTTL,
		Status: a.status, CreatedAt: rfc3339(a.createdAt), UpdatedAt: rfc3339(a.updatedAt)}
}

// handleCreateApp serves POST /v1/admin/apps: 201 with empty name and status
// and no timestamps, exactly as the real broker answers (§5, §11).
func (s *Server) handleCreateApp(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	var req struct {
		Name     string   `json:"name"`
		Scopes   []string `json:"scopes"`
		TokenTTL *int     `json:"token_ttl"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	a, secret, err := s.createApp(req.Name, req.Scopes, req.TokenTTL)
	switch {
	case errors.Is(err, ErrAppInvalidTTL):
		writeProblem(w, r, http.StatusBadRequest, codeInvalidTTL, err.Error())
		return
	case errors.Is(err, ErrAppDuplicate), errors.Is(err, errDB):
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "failed to register app")
		return
	case err != nil:
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, appJSON{AppID: a.id, ClientID: a.clientID, ClientSecret: secret,
		Scopes: a.scopes, TokenTTL: a.tokenTTL})
}

type appListResponse struct {
	Apps  []appJSON `json:"apps"`
	Total int       `json:"total"`
}

// handleListApps serves GET /v1/admin/apps: every app, newest first.
func (s *Server) handleListApps(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	s.mu.RLock()
	list := make([]appJSON, 0, len(s.appOrder))
	for i := len(s.appOrder) - 1; i >= 0; i-- {
		list = append(list, s.appOrder[i].json())
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, appListResponse{Apps: list, Total: len(list)})
}

// handleGetApp serves GET /v1/admin/apps/{id}.
func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	s.mu.RLock()
	a := s.apps[r.PathValue("id")]
	var out appJSON
	if a != nil {
		out = a.json()
	}
	s.mu.RUnlock()
	if a == nil {
		writeProblem(w, r, http.StatusNotFound, codeNotFound, "app not found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleUpdateApp serves PUT /v1/admin/apps/{id}: scopes first, then TTL,
// not atomically — a scope change sticks when the TTL part fails (§5).
func (s *Server) handleUpdateApp(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	id := r.PathValue("id")
	var req struct {
		Scopes   []string `json:"scopes"`
		TokenTTL *int     `json:"token_ttl"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if len(req.Scopes) == 0 && req.TokenTTL == nil {
		writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, "at least one of scopes or token_ttl must be provided")
		return
	}
	notFound := func() { writeProblem(w, r, http.StatusNotFound, codeNotFound, "app not found") }
	if len(req.Scopes) > 0 {
		if !validScopes(req.Scopes) {
			writeProblem(w, r, http.StatusBadRequest, codeInvalidRequest, ErrAppInvalidScope.Error())
			return
		}
		scopes := append([]string(nil), req.Scopes...)
		s.mu.Lock()
		a := s.apps[id]
		if a != nil {
			a.scopes = scopes
			a.updatedAt = s.now()
		}
		s.mu.Unlock()
		if a == nil {
			notFound()
			return
		}
		if err := s.record(AuditEvent{EventType: evAppUpdated,
			Detail: fmt.Sprintf("app_id=%s scopes=%s updated_by=%s", id, bracket(scopes), c.Sub), Outcome: outcomeSuccess},
			s.wApp(id)); err != nil {
			writeProblem(w, r, http.StatusInternalServerError, codeInternal, "failed to update app")
			return
		}
	}
	if req.TokenTTL != nil {
		n := *req.TokenTTL
		if n < minAppTTL || n > maxAppTTL {
			writeProblem(w, r, http.StatusBadRequest, codeInvalidTTL, ttlError(n).Error())
			return
		}
		s.mu.Lock()
		a := s.apps[id]
		old := 0
		if a != nil {
			old = a.tokenTTL
			a.tokenTTL = n
			a.updatedAt = s.now()
		}
		s.mu.Unlock()
		if a == nil {
			notFound()
			return
		}
		if err := s.record(AuditEvent{EventType: evAppUpdated,
			Detail: fmt.Sprintf("app_id=%s token_ttl=%d->%d updated_by=%s", id, old, n, c.Sub), Outcome: outcomeSuccess},
			s.wApp(id)); err != nil {
			writeProblem(w, r, http.StatusInternalServerError, codeInternal, "failed to update app")
			return
		}
	}
	s.mu.RLock()
	out := s.apps[id].json()
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, out)
}

// handleDeleteApp serves DELETE /v1/admin/apps/{id}: a repeatable soft
// delete with the real broker's sparse reply (§5).
func (s *Server) handleDeleteApp(w http.ResponseWriter, r *http.Request, c *claims, _ string) {
	id := r.PathValue("id")
	now := s.now()
	s.mu.Lock()
	a := s.apps[id]
	name := ""
	if a != nil {
		a.status = "inactive"
		a.updatedAt = now
		name = a.name
	}
	s.mu.Unlock()
	if a == nil {
		writeProblem(w, r, http.StatusNotFound, codeNotFound, "app not found")
		return
	}
	if err := s.record(AuditEvent{EventType: evAppDeregistered,
		Detail: fmt.Sprintf("app_id=%s name=%s deregistered_by=%s", id, name, c.Sub), Outcome: outcomeSuccess},
		s.wApp(id)); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, codeInternal, "failed to deregister app")
		return
	}
	writeJSON(w, http.StatusOK, appJSON{AppID: id, Status: "inactive", DeregisteredAt: rfc3339(now)})
}

// App describes a registered app, without its secret (only a hash is kept).
type App struct {
	AppID    string
	Name     string
	ClientID string
	Scopes   []string
	Active   bool
}

// AppByName returns the app registered under name, active or not.
func (s *Server) AppByName(name string) (App, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range s.appOrder {
		if a.name == name {
			return App{AppID: a.id, Name: a.name, ClientID: a.clientID, Scopes: append([]string(nil), a.scopes...),
				Active: a.status == "active"}, true
		}
	}
	return App{}, false
}

// RotateSecret gives app id a new client secret, which it returns once;
// the old secret stops working at once. It is recorded as app_updated.
func (s *Server) RotateSecret(id string) (AppCredentials, error) {
	secret := randHex(32)
	s.mu.Lock()
	a := s.apps[id]
	if a == nil {
		s.mu.Unlock()
		return AppCredentials{}, fmt.Errorf("broker: rotate secret: app %s not found", id)
	}
	a.secretHash = sha256.Sum256([]byte(secret))
	a.updatedAt = s.now()
	creds := AppCredentials{AppID: a.id, ClientID: a.clientID, ClientSecret: secret}
	s.mu.Unlock()
	if err := s.record(AuditEvent{EventType: evAppUpdated,
		Detail: fmt.Sprintf("app_id=%s client credentials rotated updated_by=operator", id), Outcome: outcomeSuccess},
		s.wApp(id)); err != nil {
		return AppCredentials{}, fmt.Errorf("broker: rotate secret: %w", err)
	}
	return creds, nil
}

// launchKey is the key of a launch token in memory and in the database: its
// SHA-256, so the database never holds a usable launch token.
func launchKey(tok string) [sha256.Size]byte {
	// A stack buffer: []byte(tok) would allocate for tokens over 32 bytes.
	var buf [128]byte
	if len(tok) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], tok)])
	}
	return sha256.Sum256([]byte(tok))
}
