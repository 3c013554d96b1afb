package agentwrit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Admin is an operator session (admin secret): app management, launch
// tokens without a ceiling (flow A), revocation and the audit trail. It logs
// in lazily, re-authenticates once fewer than 60 s remain (admin tokens last
// 300 s), shares one login between concurrent callers, and on a 401 logs in
// again once and retries. Safe for concurrent use.
type Admin struct {
	c      *Client
	secret string
	sess   *session
}

// NewAdmin returns an operator session for the broker at brokerURL. It does
// not contact the broker; see [Admin.Authenticate].
func NewAdmin(brokerURL, secret string, opts ...Option) (*Admin, error) {
	if secret == "" {
		return nil, errors.New("agentwrit: new admin: admin secret is empty")
	}
	c, err := NewClient(brokerURL, opts...)
	if err != nil {
		return nil, err
	}
	a := &Admin{c: c, secret: secret}
	a.sess = newSession(c, "admin login", func(ctx context.Context, r *TokenResponse) error {
		return c.adminAuth(ctx, a.secret, r)
	})
	return a, nil
}

// BrokerURL returns the broker's base URL.
func (a *Admin) BrokerURL() string { return a.c.BrokerURL() }

// Client returns the low-level client the session uses.
func (a *Admin) Client() *Client { return a.c }

// String describes the session without its secret.
func (a *Admin) String() string { return "agentwrit.Admin{broker=" + a.c.display + "}" }

// GoString is String, so that %#v cannot print the secret.
func (a *Admin) GoString() string { return a.String() }

// LogValue redacts the secret.
func (a *Admin) LogValue() slog.Value {
	return slog.GroupValue(slog.String("broker", a.c.display), slog.String("role", "admin"))
}

// Authenticate makes sure there is a session with at least 60 s left,
// logging in now if needed.
func (a *Admin) Authenticate(ctx context.Context) error {
	if _, err := a.sess.get(ctx); err != nil {
		return fmt.Errorf("agentwrit: admin login: %w", err)
	}
	return nil
}

// call is Client.call with the admin token, re-authenticating once on 401.
func (a *Admin) call(ctx context.Context, op, method, path string, in, out any) error {
	err := a.sess.do(ctx, func(tok string) error {
		return a.c.call(ctx, method, path, tok, in, out)
	})
	if err != nil {
		return fmt.Errorf("agentwrit: %s: %w", op, err)
	}
	return nil
}

// AppCredentials is the reply of app creation. ClientSecret is shown only
// once by the broker; String and LogValue redact it.
type AppCredentials struct {
	AppID        string   `json:"app_id"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	TokenTTL     int      `json:"token_ttl"`
}

// String describes the credentials with the secret redacted.
func (c AppCredentials) String() string {
	return fmt.Sprintf("app %s client_id=%s client_secret=%s scopes=%v token_ttl=%d",
		c.AppID, c.ClientID, redactSecret(c.ClientSecret), c.Scopes, c.TokenTTL)
}

// GoString is String, so that %#v cannot print the secret.
func (c AppCredentials) GoString() string { return c.String() }

// LogValue redacts the secret.
func (c AppCredentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("app_id", c.AppID),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", redactSecret(c.ClientSecret)),
		slog.Any("scopes", c.Scopes),
		slog.Int("token_ttl", c.TokenTTL),
	)
}

// AppInfo is an app record (§5). Timestamps are RFC 3339 as sent; the
// creation reply has none, and DELETE fills DeregisteredAt.
type AppInfo struct {
	AppID          string   `json:"app_id"`
	Name           string   `json:"name"`
	ClientID       string   `json:"client_id"`
	Scopes         []string `json:"scopes"`
	TokenTTL       int      `json:"token_ttl"`
	Status         string   `json:"status"` // "active" or "inactive"
	CreatedAt      string   `json:"created_at,omitempty"`
	UpdatedAt      string   `json:"updated_at,omitempty"`
	DeregisteredAt string   `json:"deregistered_at,omitempty"`
}

// CreateApp calls POST /v1/admin/apps. scopes is the app's ceiling;
// tokenTTL 0 leaves the broker default (1800 s), else it must be 60–86400.
func (a *Admin) CreateApp(ctx context.Context, name string, scopes []string, tokenTTL int) (*AppCredentials, error) {
	in := struct {
		Name     string   `json:"name"`
		Scopes   []string `json:"scopes,omitempty"`
		TokenTTL int      `json:"token_ttl,omitempty"`
	}{name, scopes, tokenTTL}
	var r AppCredentials
	if err := a.call(ctx, "create app "+name, http.MethodPost, "/v1/admin/apps", in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListApps calls GET /v1/admin/apps (newest first, inactive apps included).
func (a *Admin) ListApps(ctx context.Context) ([]AppInfo, error) {
	var r struct {
		Apps  []AppInfo `json:"apps"`
		Total int       `json:"total"`
	}
	if err := a.call(ctx, "list apps", http.MethodGet, "/v1/admin/apps", nil, &r); err != nil {
		return nil, err
	}
	return r.Apps, nil
}

// GetApp calls GET /v1/admin/apps/{id}; an unknown id is a [*NotFoundError].
func (a *Admin) GetApp(ctx context.Context, id string) (*AppInfo, error) {
	var r AppInfo
	if err := a.call(ctx, "get app "+id, http.MethodGet, "/v1/admin/apps/"+url.PathEscape(id), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// UpdateApp calls PUT /v1/admin/apps/{id}. A nil scopes or a 0 tokenTTL
// leaves that field unchanged (the broker refuses a request changing nothing).
func (a *Admin) UpdateApp(ctx context.Context, id string, scopes []string, tokenTTL int) (*AppInfo, error) {
	in := struct {
		Scopes   []string `json:"scopes,omitempty"`
		TokenTTL int      `json:"token_ttl,omitempty"`
	}{scopes, tokenTTL}
	var r AppInfo
	if err := a.call(ctx, "update app "+id, http.MethodPut, "/v1/admin/apps/"+url.PathEscape(id), in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DeleteApp calls DELETE /v1/admin/apps/{id} (a repeatable soft delete: the
// app can no longer log in; its agents are unaffected).
func (a *Admin) DeleteApp(ctx context.Context, id string) error {
	return a.call(ctx, "delete app "+id, http.MethodDelete, "/v1/admin/apps/"+url.PathEscape(id), nil, nil)
}

// CreateLaunchToken calls POST /v1/admin/launch-tokens (no ceiling, no scope
// format check). Register with it via [Client.RegisterAgent].
func (a *Admin) CreateLaunchToken(ctx context.Context, req LaunchTokenRequest) (*LaunchToken, error) {
	if req.AllowedScope == nil {
		req.AllowedScope = []string{}
	}
	var r LaunchToken
	if err := a.call(ctx, "create launch token", http.MethodPost, "/v1/admin/launch-tokens", req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RevokeLevel is the reach of a revocation (§7).
type RevokeLevel string

// The revocation levels.
const (
	RevokeToken RevokeLevel = "token" // target: a jti
	RevokeAgent RevokeLevel = "agent" // target: a sub (SPIFFE ID); also kills tokens delegated to it
	RevokeTask  RevokeLevel = "task"  // target: a task_id; also blocks later registrations
	RevokeChain RevokeLevel = "chain" // target: the root delegator's SPIFFE ID
)

// RevokeResult is the reply of POST /v1/revoke. Count is always 1 and
// targets are not checked for existence (§5).
type RevokeResult struct {
	Revoked bool        `json:"revoked"`
	Level   RevokeLevel `json:"level"`
	Target  string      `json:"target"`
	Count   int         `json:"count"`
}

// Revoke calls POST /v1/revoke. The level is not checked locally; an unknown
// one is the broker's 400.
func (a *Admin) Revoke(ctx context.Context, level RevokeLevel, target string) (*RevokeResult, error) {
	in := struct {
		Level  RevokeLevel `json:"level"`
		Target string      `json:"target"`
	}{level, target}
	var r RevokeResult
	if err := a.call(ctx, "revoke "+string(level), http.MethodPost, "/v1/revoke", in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// AuditQuery filters GET /v1/audit/events. Zero fields are not sent.
// Since and Until are inclusive. Limit defaults to 100 on the broker and is
// capped at 1000; [Admin.AllAuditEvents] uses it as its page size.
type AuditQuery struct {
	AgentID   string
	TaskID    string
	EventType string
	Outcome   string
	Since     time.Time
	Until     time.Time
	Limit     int
	Offset    int
}

func (q AuditQuery) encode() string {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("agent_id", q.AgentID)
	set("task_id", q.TaskID)
	set("event_type", q.EventType)
	set("outcome", q.Outcome)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// AuditPage is one page of GET /v1/audit/events. Total counts every match
// before paging.
type AuditPage struct {
	Events []AuditEvent `json:"events"`
	Total  int          `json:"total"`
	Offset int          `json:"offset"`
	Limit  int          `json:"limit"`
}

// AuditEvents calls GET /v1/audit/events once.
func (a *Admin) AuditEvents(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	var p AuditPage
	if err := a.call(ctx, "audit events", http.MethodGet, "/v1/audit/events"+q.encode(), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// maxAuditPage is the broker's cap on limit.
const maxAuditPage = 1000

// AllAuditEvents pages through GET /v1/audit/events from q.Offset until the
// reported total is reached (or a page comes back empty), q.Limit events per
// page (0 or more than 1000 => 1000). Without filters the result is the
// whole hash chain, ready for [VerifyChain].
func (a *Admin) AllAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	if q.Limit <= 0 || q.Limit > maxAuditPage {
		q.Limit = maxAuditPage
	}
	var all []AuditEvent
	for {
		p, err := a.AuditEvents(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Events...)
		q.Offset += len(p.Events)
		if len(p.Events) == 0 || q.Offset >= p.Total {
			return all, nil
		}
	}
}
