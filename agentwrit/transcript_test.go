package agentwrit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/conformance"
)

// The transcript: 56 request/response exchanges recorded on a real v2.0.0
// broker, with secrets and tokens truncated to "<prefix>…(<n> chars)".
type exchange = conformance.Exchange

func loadTranscript(t *testing.T) []exchange {
	t.Helper()
	ex := conformance.Transcript(t)
	if len(ex) != 56 {
		t.Fatalf("transcript has %d exchanges, want 56", len(ex))
	}
	return ex
}

// placeholderRE matches a truncated secret: the first 12 characters, "…",
// and the original length.
var placeholderRE = regexp.MustCompile(`^(.+)…\((\d+) chars\)$`)

// expander turns the recording's placeholders back into usable values,
// consistently within one exchange: tokens become JWTs minted over the
// claims recorded for that exchange (or generic ones), other secrets become
// hex strings of the recorded length that keep the recorded prefix.
type expander struct {
	t      *testing.T
	claims any
	memo   map[string]string
}

func (x *expander) expandString(s string) string {
	m := placeholderRE.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	if v, ok := x.memo[s]; ok {
		return v
	}
	prefix := m[1]
	n, _ := strconv.Atoi(m[2])
	var v string
	if strings.HasPrefix(prefix, "eyJ") {
		claims := x.claims
		if claims == nil {
			claims = Claims{Sub: "spiffe://agentwrit.local/agent/transcript/generic/0000000000000000",
				Scope: []string{"read:analytics:hospital"}, JTI: "00000000000000000000000000000000",
				Iat: 1795723201, Nbf: 1795723201, Exp: 1795723501}
		}
		v = mintJWT(x.t, claims)
	} else {
		v = expandHex(prefix, n)
	}
	x.memo[s] = v
	return v
}

// expandHex extends prefix to n characters with hex derived from it.
func expandHex(prefix string, n int) string {
	var b strings.Builder
	b.WriteString(prefix)
	seed := sha256.Sum256([]byte(prefix))
	for b.Len() < n {
		b.WriteString(hex.EncodeToString(seed[:]))
		seed = sha256.Sum256(seed[:])
	}
	return b.String()[:n]
}

func (x *expander) expand(v any) any {
	switch v := v.(type) {
	case string:
		return x.expandString(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = x.expand(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = x.expand(e)
		}
		return out
	}
	return v
}

func decodeAny(t *testing.T, raw []byte) any {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
	return v
}

// env is one exchange being replayed against a stub.
type env struct {
	t      *testing.T
	ex     exchange
	url    string
	req    any            // recorded request body, expanded
	resp   any            // recorded response body, expanded
	respM  map[string]any // resp as an object (nil otherwise)
	x      *expander
	bearer string // token a case presents itself (agent-token routes)
	notes  *notes

	mu       sync.Mutex
	hits     int
	gotAuth  string
	gotBody  []byte
	gotQuery string
}

const (
	stubAdminToken = "stub-admin-session-token"
	stubAppToken   = "stub-app-session-token"
	transcriptApp  = "tc-cad3ae1a6290"
	adminSecret    = "dev-secret-dev-secret-1234567890"
)

func (e *env) handler(w http.ResponseWriter, r *http.Request) {
	recPath, _, _ := strings.Cut(e.ex.Request.Path, "?")
	switch {
	case r.Method == e.ex.Request.Method && r.URL.Path == recPath:
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.hits++
		e.gotAuth = r.Header.Get("Authorization")
		e.gotBody = body
		e.gotQuery = r.URL.RawQuery
		e.mu.Unlock()
		for k, v := range e.ex.Response.Headers {
			w.Header().Set(k, v)
		}
		if ct := e.ex.Response.ContentType; ct != nil {
			w.Header().Set("Content-Type", *ct)
		}
		w.WriteHeader(e.ex.Response.Status)
		if e.ex.Response.Status != http.StatusNoContent {
			b, _ := json.Marshal(e.resp)
			_, _ = w.Write(b)
		}
	case r.Method == http.MethodPost && r.URL.Path == "/v1/admin/auth":
		writeJSON(w, 200, map[string]any{"access_token": stubAdminToken, "expires_in": 300, "token_type": "Bearer"})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/app/auth":
		writeJSON(w, 200, map[string]any{"access_token": stubAppToken, "expires_in": 1800, "token_type": "Bearer",
			"scopes": []string{"app:launch-tokens:*", "app:agents:*", "app:audit:read"}})
	default:
		e.t.Errorf("%s: unexpected request %s %s", e.ex.Name, r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
	}
}

func (e *env) hitCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits
}

func (e *env) client() *Client {
	c, err := NewClient(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) app(secret string) *App {
	a, err := NewApp(e.url, transcriptApp, secret, WithNotify(e.notes.add))
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) admin(secret string) *Admin {
	a, err := NewAdmin(e.url, secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// appSecret is the expanded client secret of the recorded app.
func (e *env) appSecret() string { return e.x.expandString("43991c38adf9…(64 chars)") }

func (e *env) reqField(k string) any {
	m, _ := e.req.(map[string]any)
	return m[k]
}

func (e *env) reqString(k string) string {
	s, _ := e.reqField(k).(string)
	return s
}

func (e *env) reqStrings(k string) []string {
	l, _ := e.reqField(k).([]any)
	out := []string{}
	for _, v := range l {
		out = append(out, v.(string))
	}
	return out
}

func (e *env) respString(k string) string {
	s, _ := e.respM[k].(string)
	return s
}

func (e *env) respInt(k string) int {
	f, _ := e.respM[k].(float64)
	return int(f)
}

// decodeReq decodes the recorded request body into v.
func (e *env) decodeReq(v any) {
	b, _ := json.Marshal(e.req)
	if err := json.Unmarshal(b, v); err != nil {
		e.t.Fatalf("decode request: %v", err)
	}
}

// matchJSON checks that got, encoded with its own JSON tags, agrees with the
// recorded want: every field got has equals the recorded one, and every
// recorded field with a non-zero value is present in got.
func matchJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: marshal: %v", what, err)
	}
	var g any
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	matchValue(t, what, g, want)
}

func matchValue(t *testing.T, path string, got, want any) {
	t.Helper()
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if gok && wok {
		for k, gv := range gm {
			wv, ok := wm[k]
			if !ok {
				if !isZeroJSON(gv) {
					t.Errorf("%s.%s: decoded %v, not in the recording", path, k, gv)
				}
				continue
			}
			matchValue(t, path+"."+k, gv, wv)
		}
		for k, wv := range wm {
			if _, ok := gm[k]; !ok && !isZeroJSON(wv) {
				t.Errorf("%s.%s: recorded %v was not decoded", path, k, wv)
			}
		}
		return
	}
	gl, gok := got.([]any)
	wl, wok := want.([]any)
	if gok && wok {
		if len(gl) != len(wl) {
			t.Errorf("%s: %d elements, recorded %d", path, len(gl), len(wl))
			return
		}
		for i := range gl {
			matchValue(t, path+"["+strconv.Itoa(i)+"]", gl[i], wl[i])
		}
		return
	}
	if !reflect.DeepEqual(got, want) && !(isZeroJSON(got) && isZeroJSON(want)) {
		t.Errorf("%s: got %#v, recorded %#v", path, got, want)
	}
}

func isZeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case float64:
		return v == 0
	case bool:
		return !v
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

var agentToken = func(t *testing.T) string {
	return mintJWT(t, Claims{Sub: "spiffe://agentwrit.local/agent/nightly-pipeline/etl-hospital-1795723201/0704efb11ad0cb6c",
		Scope: []string{"read:analytics:hospital", "write:reports:hospital"}, JTI: "3789b596649398ec0934c81e1f74242b",
		TaskID: "etl-hospital-1795723201", OrchID: "nightly-pipeline", Iat: 1795723201, Nbf: 1795723201, Exp: 1795723501})
}

// transcriptCases replays each exchange through the client call that
// produces it. A case returns the call's error; on success it checks the
// decoded result itself. Error replies are checked generically.
var transcriptCases = map[string]func(ctx context.Context, e *env) error{
	"health": func(ctx context.Context, e *env) error {
		h, err := e.client().Health(ctx)
		if err == nil {
			matchJSON(e.t, "health", h, e.resp)
			if *h != (Health{Status: "ok", Version: "2.0.0", Uptime: 84, DBConnected: true, AuditEventsCount: 21}) {
				e.t.Errorf("health = %+v", *h)
			}
		}
		return err
	},
	"admin_auth_bad_secret": func(ctx context.Context, e *env) error {
		return e.admin(e.reqString("secret")).Authenticate(ctx)
	},
	"admin_auth_missing_field": func(ctx context.Context, e *env) error {
		_, err := e.client().AdminAuth(ctx, "")
		return err
	},
	"admin_auth": func(ctx context.Context, e *env) error {
		r, err := e.client().AdminAuth(ctx, e.reqString("secret"))
		if err != nil {
			return err
		}
		matchJSON(e.t, "admin_auth", r, e.resp)
		c, err := ParseClaims(r.AccessToken)
		if err != nil {
			e.t.Fatal(err)
		}
		matchJSON(e.t, "admin claims", c, decodeAny(e.t, e.ex.AdminTokenClaims))
		if c.TaskID != "" || c.OrchID != "" || c.Aud != nil || c.Sub != "admin" {
			e.t.Errorf("admin claims = %+v", c)
		}
		return e.admin(adminSecret).Authenticate(ctx)
	},
	"apps_create_missing_scopes": func(ctx context.Context, e *env) error {
		_, err := e.admin(adminSecret).CreateApp(ctx, e.reqString("name"), nil, 0)
		return err
	},
	"apps_create": func(ctx context.Context, e *env) error {
		cr, err := e.admin(adminSecret).CreateApp(ctx, e.reqString("name"), e.reqStrings("scopes"), 0)
		if err == nil {
			matchJSON(e.t, "apps_create", cr, e.resp)
			if cr.ClientSecret != e.appSecret() || strings.Contains(cr.String(), cr.ClientSecret) {
				e.t.Errorf("client secret not decoded or not redacted: %v", cr)
			}
		}
		return err
	},
	"apps_list": func(ctx context.Context, e *env) error {
		apps, err := e.admin(adminSecret).ListApps(ctx)
		if err == nil {
			matchJSON(e.t, "apps_list", apps, e.respM["apps"])
			if len(apps) != 2 || apps[0].Status != "active" || apps[0].CreatedAt == "" {
				e.t.Errorf("apps = %+v", apps)
			}
		}
		return err
	},
	"apps_get": func(ctx context.Context, e *env) error {
		id := strings.TrimPrefix(e.ex.Request.Path, "/v1/admin/apps/")
		app, err := e.admin(adminSecret).GetApp(ctx, id)
		if err == nil {
			matchJSON(e.t, "apps_get", app, e.resp)
		}
		return err
	},
	"app_auth_bad_secret": func(ctx context.Context, e *env) error {
		return e.app(e.reqString("client_secret")).Authenticate(ctx)
	},
	"app_auth": func(ctx context.Context, e *env) error {
		r, err := e.client().AppAuth(ctx, e.reqString("client_id"), e.reqString("client_secret"))
		if err != nil {
			return err
		}
		matchJSON(e.t, "app_auth", r, e.resp)
		c, err := ParseClaims(r.AccessToken)
		if err != nil {
			e.t.Fatal(err)
		}
		matchJSON(e.t, "app claims", c, decodeAny(e.t, e.ex.AppTokenClaims))
		return e.app(e.appSecret()).Authenticate(ctx)
	},
	"app_launch_token_beyond_ceiling": func(ctx context.Context, e *env) error {
		// Through CreateAgent: it must send exactly the recorded body.
		_, err := e.app(e.appSecret()).CreateAgent(ctx, "nightly-pipeline", "etl-bank", e.reqStrings("allowed_scope"),
			&AgentOptions{Label: e.reqString("agent_name")})
		return err
	},
	"app_launch_token_missing_scope": launchTokenCase,
	"admin_token_on_app_route":       launchTokenCase,
	"launch_token_hospital":          launchTokenCase,
	"launch_token_bank":              launchTokenCase,
	"launch_token_narrow":            launchTokenCase,
	"launch_token_retail":            launchTokenCase,
	"challenge": func(ctx context.Context, e *env) error {
		nonce, exp, err := e.client().Challenge(ctx)
		if err == nil && (nonce != e.respString("nonce") || exp != 30 || len(nonce) != 64) {
			e.t.Errorf("challenge = %q, %d", nonce, exp)
		}
		return err
	},
	"register_hospital":                  registerCase,
	"register_reused_launch_token":       registerCase,
	"register_bank_bad_signature":        registerCase,
	"register_scope_beyond_launch_token": registerCase,
	"register_bank":                      registerCase,
	"register_retail":                    registerCase,
	"validate_valid":                     validateCase,
	"validate_garbage":                   validateCase,
	"validate_missing_field":             validateCase,
	"validate_after_renew_old_token":     validateCase,
	"validate_released":                  validateCase,
	"validate_after_revoke_agent":        validateCase,
	"validate_expired":                   validateCase,
	"not_json_body":                      validateCase,
	"delegate_wider_denied":              delegateCase,
	"delegate_narrow_ok":                 delegateCase,
	"delegate_unknown_agent":             delegateCase,
	"renew":                              renewCase,
	"renew_released":                     renewCase,
	"release":                            releaseCase,
	"release_again":                      releaseCase,
	"revoke_agent":                       revokeCase,
	"revoke_bad_level":                   revokeCase,
	"revoke_with_agent_token":            revokeCase,
	"audit_events":                       auditCase,
	"audit_events_filtered":              auditCase,
	"audit_with_app_token":               auditCase,
	"app_auth_burst_0":                   burstCase,
	"app_auth_burst_1":                   burstCase,
	"app_auth_burst_2":                   burstCase,
	"app_auth_burst_3":                   burstCase,
	"app_auth_burst_4":                   burstCase,
}

func launchTokenCase(ctx context.Context, e *env) error {
	var req LaunchTokenRequest
	e.decodeReq(&req)
	lt, err := e.app(e.appSecret()).CreateLaunchToken(ctx, req)
	if err == nil {
		matchJSON(e.t, "launch token", lt, e.resp)
		if len(lt.Token) != 64 || strings.Contains(lt.String(), lt.Token) {
			e.t.Errorf("launch token not decoded or not redacted: %v", lt)
		}
	}
	return err
}

func registerCase(ctx context.Context, e *env) error {
	var req RegisterRequest
	e.decodeReq(&req)
	r, err := e.client().Register(ctx, req)
	if err == nil {
		matchJSON(e.t, "register", r, e.resp)
		if e.ex.AgentTokenClaims != nil {
			c, err := ParseClaims(r.AccessToken)
			if err != nil {
				e.t.Fatal(err)
			}
			matchJSON(e.t, "agent claims", c, decodeAny(e.t, e.ex.AgentTokenClaims))
			if c.TaskID != "etl-hospital-1795723201" || c.OrchID != "nightly-pipeline" || c.Sub != r.AgentID {
				e.t.Errorf("agent claims = %+v", c)
			}
		}
	}
	return err
}

func validateCase(ctx context.Context, e *env) error {
	r, err := e.client().Validate(ctx, e.reqString("token"))
	if err == nil {
		matchJSON(e.t, "validate", r, e.resp)
		if want, _ := e.respM["valid"].(bool); r.Valid != want {
			e.t.Errorf("valid = %v, want %v", r.Valid, want)
		}
		if !r.Valid && (r.Error != "token is invalid or expired" || r.Claims != nil) {
			e.t.Errorf("invalid result = %+v", r)
		}
		if r.Valid && (r.Claims == nil || r.Claims.TaskID == "" || len(r.Claims.Scope) != 2) {
			e.t.Errorf("valid result = %+v", r)
		}
	}
	return err
}

func delegateCase(ctx context.Context, e *env) error {
	e.bearer = agentToken(e.t)
	ttl, _ := e.reqField("ttl").(float64)
	d, err := e.client().Delegate(ctx, e.bearer, e.reqString("delegate_to"), e.reqStrings("scope"), int(ttl))
	if err == nil {
		if d.Token != e.respString("access_token") || d.ExpiresIn != 30 {
			e.t.Errorf("delegated = %v", d)
		}
		matchJSON(e.t, "delegation_chain", d.Chain, e.respM["delegation_chain"])
		if len(d.Chain) != 1 || d.Chain[0].DelegatedAt != "2026-11-26T20:00:02.287835008Z" || len(d.Chain[0].Signature) != 128 {
			e.t.Errorf("chain = %+v", d.Chain)
		}
		if d.Claims.JTI == "" || strings.Contains(d.String(), d.Token) {
			e.t.Errorf("claims not decoded or token not redacted: %v", d)
		}
	}
	return err
}

func renewCase(ctx context.Context, e *env) error {
	e.bearer = agentToken(e.t)
	tok, exp, err := e.client().Renew(ctx, e.bearer)
	if err == nil && (tok != e.respString("access_token") || exp != 300) {
		e.t.Errorf("renew = %s, %d", ShortToken(tok), exp)
	}
	return err
}

func releaseCase(ctx context.Context, e *env) error {
	e.bearer = agentToken(e.t)
	return e.client().Release(ctx, e.bearer)
}

func revokeCase(ctx context.Context, e *env) error {
	r, err := e.admin(adminSecret).Revoke(ctx, RevokeLevel(e.reqString("level")), e.reqString("target"))
	if err == nil {
		matchJSON(e.t, "revoke", r, e.resp)
		if !r.Revoked || r.Level != RevokeAgent || r.Count != 1 {
			e.t.Errorf("revoke = %+v", r)
		}
	}
	return err
}

func auditCase(ctx context.Context, e *env) error {
	var q AuditQuery
	_, rawQuery, _ := strings.Cut(e.ex.Request.Path, "?")
	for _, kv := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "limit":
			q.Limit, _ = strconv.Atoi(v)
		case "event_type":
			q.EventType = v
		}
	}
	p, err := e.admin(adminSecret).AuditEvents(ctx, q)
	if err == nil {
		matchJSON(e.t, "audit page", p, e.resp)
		if len(p.Events) != 5 || p.Limit != 5 {
			e.t.Errorf("page = %d events, limit %d", len(p.Events), p.Limit)
		}
	}
	return err
}

func burstCase(ctx context.Context, e *env) error {
	r, err := e.client().AppAuth(ctx, e.reqString("client_id"), e.reqString("client_secret"))
	if err == nil {
		matchJSON(e.t, "app_auth", r, e.resp)
		return nil
	}
	if e.ex.Response.Status == http.StatusTooManyRequests {
		// The session form with a deadline shorter than Retry-After gives up
		// at once, with the same error, after a single login attempt.
		before := e.hitCount()
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		start := time.Now()
		aerr := e.app(e.appSecret()).Authenticate(short)
		var rl *RateLimitError
		if !errors.As(aerr, &rl) || rl.RetryAfter != 60*time.Second {
			e.t.Errorf("Authenticate with a short deadline = %v, want RateLimitError", aerr)
		}
		if time.Since(start) > 2*time.Second || e.hitCount() != before+1 {
			e.t.Errorf("Authenticate waited %v and made %d requests", time.Since(start), e.hitCount()-before)
		}
		if msgs := e.notes.all(); len(msgs) != 1 || !strings.Contains(msgs[0], "not waiting 60s") {
			e.t.Errorf("notify = %q", msgs)
		}
	}
	return err
}

func TestTranscriptDecoding(t *testing.T) {
	exchanges := loadTranscript(t)
	seen := map[string]bool{}
	for i, ex := range exchanges {
		seen[ex.Name] = true
		run, ok := transcriptCases[ex.Name]
		if !ok {
			t.Errorf("exchange %d %q has no case", i, ex.Name)
			continue
		}
		t.Run(strconv.Itoa(i)+"_"+ex.Name, func(t *testing.T) {
			var claims any
			for _, raw := range []json.RawMessage{ex.AdminTokenClaims, ex.AppTokenClaims, ex.AgentTokenClaims} {
				if raw != nil {
					claims = decodeAny(t, raw)
				}
			}
			x := &expander{t: t, claims: claims, memo: map[string]string{}}
			e := &env{t: t, ex: ex, x: x, notes: newNotes(),
				req: x.expand(decodeAny(t, ex.Request.Body)), resp: x.expand(decodeAny(t, ex.Response.Body))}
			e.respM, _ = e.resp.(map[string]any)
			srv := httptest.NewServer(http.HandlerFunc(e.handler))
			defer srv.Close()
			e.url = srv.URL

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, e)

			e.mu.Lock()
			defer e.mu.Unlock()
			checkRequest(t, e)
			if st := ex.Response.Status; st >= 400 {
				checkAPIError(t, e, err)
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
		})
	}
	for name := range transcriptCases {
		if !seen[name] {
			t.Errorf("case %q matches no exchange", name)
		}
	}
}

// checkRequest compares what the client sent with the recorded request.
func checkRequest(t *testing.T, e *env) {
	t.Helper()
	if e.hits == 0 {
		t.Fatalf("the client never sent %s %s", e.ex.Request.Method, e.ex.Request.Path)
	}
	_, recQuery, _ := strings.Cut(e.ex.Request.Path, "?")
	if e.gotQuery != recQuery {
		t.Errorf("query = %q, recorded %q", e.gotQuery, recQuery)
	}
	if e.ex.Request.Auth == nil {
		if e.gotAuth != "" {
			t.Errorf("sent Authorization on an unauthenticated route")
		}
	} else {
		want := e.bearer
		switch p := e.ex.Request.Path; {
		case strings.HasPrefix(p, "/v1/app/"):
			want = stubAppToken
		case strings.HasPrefix(p, "/v1/admin/"), strings.HasPrefix(p, "/v1/revoke"), strings.HasPrefix(p, "/v1/audit/"):
			want = stubAdminToken
		}
		if e.gotAuth != "Bearer "+want {
			t.Errorf("Authorization = %q, want %q", ShortToken(e.gotAuth), "Bearer "+ShortToken(want))
		}
	}
	if e.ex.Name == "not_json_body" { // recorded with no body at all; the client always sends JSON
		return
	}
	got := decodeAny(t, e.gotBody)
	if !reflect.DeepEqual(got, e.req) {
		t.Errorf("request body = %s\nrecorded      = %s", e.gotBody, mustJSON(e.req))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkAPIError checks that err carries everything the recorded problem says.
func checkAPIError(t *testing.T, e *env, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error for a recorded %d", e.ex.Response.Status)
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %T %v is not an *APIError", err, err)
	}
	st := e.ex.Response.Status
	want := &APIError{
		Status:    st,
		Code:      e.respString("error_code"),
		Title:     e.respString("title"),
		Detail:    e.respString("detail"),
		Instance:  e.respString("instance"),
		RequestID: e.respString("request_id"),
		Type:      e.respString("type"),
	}
	if ra := e.ex.Response.Headers["retry-after"]; ra != "" {
		n, _ := strconv.Atoi(ra)
		want.RetryAfter = time.Duration(n) * time.Second
	}
	if !reflect.DeepEqual(ae, want) {
		t.Errorf("APIError = %+v\nwant       %+v", *ae, *want)
	}
	if want.RequestID != e.ex.Response.Headers["x-request-id"] {
		t.Errorf("recording inconsistent: request_id %q, header %q", want.RequestID, e.ex.Response.Headers["x-request-id"])
	}
	var typedOK bool
	switch st {
	case 401:
		var x *AuthenticationError
		typedOK = errors.As(err, &x)
	case 403:
		var x *AuthorizationError
		typedOK = errors.As(err, &x) && x.Code == want.Code
	case 404:
		var x *NotFoundError
		typedOK = errors.As(err, &x)
	case 429:
		var x *RateLimitError
		typedOK = errors.As(err, &x) && x.RetryAfter == 60*time.Second
	default:
		var (
			x1 *AuthenticationError
			x2 *AuthorizationError
			x3 *NotFoundError
			x4 *RateLimitError
		)
		typedOK = !errors.As(err, &x1) && !errors.As(err, &x2) && !errors.As(err, &x3) && !errors.As(err, &x4)
	}
	if !typedOK {
		t.Errorf("error %T (%v) has the wrong type for %d", err, err, st)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "agentwrit: ") || !strings.Contains(msg, want.Code) ||
		!strings.Contains(msg, want.Detail) || !strings.Contains(msg, "request "+want.RequestID) || strings.Contains(msg, "\n") {
		t.Errorf("error message %q lacks context", msg)
	}
	for _, secret := range []string{e.appSecret(), adminSecret, e.bearer} {
		if secret != "" && strings.Contains(msg, secret) {
			t.Errorf("error message leaks a secret: %q", msg)
		}
	}
}
