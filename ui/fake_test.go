package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/scope"
)

// fakeCtrl is a Controller that behaves like pipeline.Runner without a
// broker or stores: the same stage order, the same events in the same shapes
// (decisions carry no stage; the local check comes before the store's), the
// same two-layer decisions computed with the scope package, and tokens that
// die on release, revoke or expiry. It records every call.
type fakeCtrl struct {
	mu       sync.Mutex
	now      func() time.Time
	ttl      time.Duration
	tenants  []pipeline.Tenant
	states   []pipeline.TenantState
	events   chan pipeline.Event // nil: events are dropped
	seq      int64
	ids      int
	calls    []string
	adminOK  bool
	adminWhy string
	delay    time.Duration // slows every blocking call (to see spinners)
	stepErr  error         // when set, Step fails with it
	// healthErr, when set, is Health's answer (a dead broker).
	healthErr error
	audit     []pipeline.AuditEntry
}

func newFake(ts []pipeline.Tenant, now func() time.Time, events chan pipeline.Event) *fakeCtrl {
	f := &fakeCtrl{now: now, ttl: 5 * time.Minute, tenants: ts, events: events, adminOK: true}
	for _, t := range ts {
		f.states = append(f.states, pipeline.TenantState{Tenant: t})
	}
	return f
}

var _ Controller = (*fakeCtrl)(nil)

// begin records a call, waits out the fake's pause, and locks the fake; the
// returned func unlocks it: defer f.begin(...)().
func (f *fakeCtrl) begin(format string, a ...any) func() {
	f.mu.Lock()
	f.record(format, a...)
	f.mu.Unlock()
	f.pause()
	f.mu.Lock()
	return f.mu.Unlock
}

func (f *fakeCtrl) record(format string, a ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

// Calls returns the recorded calls, e.g. "Step hospital".
func (f *fakeCtrl) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeCtrl) pause() {
	if f.delay > 0 {
		time.Sleep(f.delay) // fakes may sleep: this stands for broker latency
	}
}

// emit sends without blocking: a test that does not read events loses them.
func (f *fakeCtrl) emit(ev pipeline.Event) {
	f.seq++
	ev.Seq = f.seq
	if ev.Time.IsZero() {
		ev.Time = f.now()
	}
	if f.events == nil {
		return
	}
	select {
	case f.events <- ev:
	default:
	}
}

func (f *fakeCtrl) auditf(typ, agent, task, outcome, format string, a ...any) {
	n := len(f.audit) + 1
	prev := strings.Repeat("0", 64)
	if n > 1 {
		prev = f.audit[n-2].Hash
	}
	tenant := ""
	for _, t := range f.tenants {
		if strings.Contains(task, "-"+t.ID+"-") {
			tenant = t.ID
		}
	}
	f.audit = append(f.audit, pipeline.AuditEntry{
		ID: fmt.Sprintf("evt-%06d", n), Timestamp: f.now().UTC().Format(time.RFC3339), Type: typ, AgentID: agent,
		TaskID: task, Detail: fmt.Sprintf(format, a...), Outcome: outcome, Tenant: tenant,
		Hash: fmt.Sprintf("%064x", n*7919), PrevHash: prev,
	})
}

func (f *fakeCtrl) idx(tenant string) (int, error) {
	for i, t := range f.tenants {
		if t.ID == tenant {
			return i, nil
		}
	}
	return -1, fmt.Errorf("unknown tenant %q", tenant)
}

func (f *fakeCtrl) newAgent(t pipeline.Tenant, prefix string, scopes []string) *pipeline.AgentInfo {
	f.ids++
	now := f.now()
	task := fmt.Sprintf("%s-%s-%d", prefix, t.ID, now.Unix())
	a := &pipeline.AgentInfo{
		SPIFFEID:  fmt.Sprintf("spiffe://agentwrit.local/agent/nightly-pipeline/%s/%016x", task, 0x5f2c9a1e7b3d0000+f.ids),
		TaskID:    task,
		OrchID:    "nightly-pipeline",
		JTI:       fmt.Sprintf("%08x%024x", 0x3f9a2c1d+0x1111*f.ids, f.ids),
		Token:     "eyJhbGciOiJF…",
		Scope:     append([]string(nil), scopes...),
		IssuedAt:  now,
		ExpiresAt: now.Add(f.ttl),
		State:     pipeline.AgentActive,
	}
	f.auditf("agent_registered", a.SPIFFEID, task, "success", "Agent registered with scope [%s]", strings.Join(scopes, " "))
	f.auditf("token_issued", a.SPIFFEID, task, "success", "Token issued, jti=%s, ttl=%d", a.JTI, int(f.ttl/time.Second))
	return a
}

// live reports whether a token still validates at the broker.
func (f *fakeCtrl) live(a *pipeline.AgentInfo) bool {
	return a != nil && a.State == pipeline.AgentActive && f.now().Before(a.ExpiresAt)
}

func (f *fakeCtrl) localCheck(a *pipeline.AgentInfo, actor string, target pipeline.Tenant, op pipeline.Op) pipeline.Access {
	req := []string{target.ScopeFor(op)}
	d := scope.Check(req, a.Scope)
	acc := pipeline.Access{Time: f.now(), AgentID: a.SPIFFEID, JTI: a.JTI, Actor: actor, Target: target.ID, Op: op,
		Layer: pipeline.LayerLocal, Allowed: d.Allowed, Required: req, Held: a.Scope, Reason: d.Reason(), Decision: d}
	if !d.Allowed {
		acc.Code = "scope"
	}
	f.emit(pipeline.Event{Kind: pipeline.EventDecision, Tenant: actor, Access: &acc, Message: msgOf(acc)})
	return acc
}

func (f *fakeCtrl) storeCheck(a *pipeline.AgentInfo, actor string, target pipeline.Tenant, op pipeline.Op) pipeline.Access {
	req := []string{target.ScopeFor(op)}
	acc := pipeline.Access{Time: f.now(), Actor: actor, Target: target.ID, Op: op, Layer: pipeline.LayerStore, Required: req}
	if !f.live(a) {
		acc.Code, acc.Reason = "token_invalid", "broker refused the token: token is invalid or expired"
		acc.Decision = scope.Decision{Required: req}
	} else {
		acc.AgentID, acc.JTI, acc.Held = a.SPIFFEID, a.JTI, a.Scope
		acc.Decision = scope.Check(req, a.Scope)
		acc.Allowed, acc.Reason = acc.Decision.Allowed, acc.Decision.Reason()
		if !acc.Allowed {
			acc.Code = "scope"
		}
	}
	f.emit(pipeline.Event{Kind: pipeline.EventDecision, Tenant: actor, Access: &acc, Message: msgOf(acc)})
	return acc
}

func msgOf(a pipeline.Access) string {
	return fmt.Sprintf("%s %s: %s → %s %s: %s", a.Verdict(), a.Layer, a.Actor, a.Target, a.Op.Label(), a.Reason)
}

func (f *fakeCtrl) Snapshot() []pipeline.TenantState {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]pipeline.TenantState, len(f.states))
	for i, s := range f.states {
		if s.Agent != nil {
			a := *s.Agent
			if a.State == pipeline.AgentActive && !f.now().Before(a.ExpiresAt) {
				a.State = pipeline.AgentExpired
			}
			s.Agent = &a
		}
		out[i] = s
	}
	return out
}

func (f *fakeCtrl) Step(ctx context.Context, tenant string) error {
	defer f.begin("Step %s", tenant)()
	i, err := f.idx(tenant)
	if err != nil {
		return err
	}
	return f.stepLocked(i)
}

func (f *fakeCtrl) stepLocked(i int) error {
	s := &f.states[i]
	t := f.tenants[i]
	next := s.Stage + 1
	// As the runner: start over after a finished run, a failed stage or an
	// agent that can no longer act.
	if s.Stage == pipeline.StageNone || s.Stage == pipeline.StageRelease || s.Err != "" || !f.live(s.Agent) {
		next = pipeline.StageCreate
		if s.Agent != nil && f.live(s.Agent) {
			f.releaseLocked(t.ID, s.Agent)
		}
	}
	s.Err = ""
	f.emit(pipeline.Event{Kind: pipeline.EventStageStarted, Tenant: t.ID, Stage: next, Message: fmt.Sprintf("%s: %s started", t.ID, next)})
	fail := func(err error) error {
		s.Err = err.Error()
		f.emit(pipeline.Event{Kind: pipeline.EventError, Tenant: t.ID, Stage: next, Err: err.Error(),
			Message: fmt.Sprintf("%s: %s failed: %s", t.ID, next, err)})
		return err
	}
	if f.stepErr != nil {
		return fail(f.stepErr)
	}
	ev := pipeline.Event{Kind: pipeline.EventStageFinished, Tenant: t.ID, Stage: next, Message: fmt.Sprintf("%s: %s done", t.ID, next)}
	switch next {
	case pipeline.StageCreate:
		s.Agent = f.newAgent(t, "etl", t.Scopes())
		s.Rows, s.Metrics, s.Report, s.ReportJSON = 0, nil, "", ""
		f.emit(pipeline.Event{Kind: pipeline.EventAgentCreated, Tenant: t.ID, Stage: next, Agent: s.Agent,
			Message: fmt.Sprintf("%s: agent %s created, scope %v, expires in %ds", t.ID, s.Agent.SPIFFEID, s.Agent.Scope, int(f.ttl/time.Second))})
		ev.Agent = s.Agent
	case pipeline.StageExtract, pipeline.StageTransform, pipeline.StageLoad:
		op := pipeline.OpRead
		if next == pipeline.StageLoad {
			op = pipeline.OpWrite
		}
		if !f.localCheck(s.Agent, t.ID, t, op).Allowed {
			return fail(fmt.Errorf("local check denied %s on %s", op, t.ID))
		}
		if next != pipeline.StageTransform && !f.storeCheck(s.Agent, t.ID, t, op).Allowed {
			return fail(fmt.Errorf("%s store: access denied", t.ID))
		}
		switch next {
		case pipeline.StageExtract:
			s.Rows = 1200 + 100*i
			ev.Rows = s.Rows
		case pipeline.StageTransform:
			s.Metrics = fakeMetrics(t.Kind, s.Rows)
			ev.Rows, ev.Metrics = s.Rows, s.Metrics
		case pipeline.StageLoad:
			s.Report = "reports/" + t.ID + "/latest.json"
			s.ReportJSON = fmt.Sprintf("{\n  \"tenant\": %q,\n  \"rows\": %d,\n  \"agent\": %q\n}", t.ID, s.Rows, s.Agent.SPIFFEID)
			f.emit(pipeline.Event{Kind: pipeline.EventReportWritten, Tenant: t.ID, Stage: next, Report: s.Report,
				Message: fmt.Sprintf("%s: report written to %s", t.ID, s.Report)})
			ev.Report = s.Report
		}
	case pipeline.StageRelease:
		if f.live(s.Agent) {
			s.Agent.State = pipeline.AgentReleased
			f.auditf("token_released", s.Agent.SPIFFEID, s.Agent.TaskID, "success", "token released | jti=%s", s.Agent.JTI)
			f.emit(pipeline.Event{Kind: pipeline.EventReleased, Tenant: t.ID, Stage: next, Agent: s.Agent,
				Message: fmt.Sprintf("%s: agent %s released", t.ID, s.Agent.SPIFFEID)})
		}
		ev.Agent = s.Agent
	}
	s.Stage = next
	f.emit(ev)
	return nil
}

func fakeMetrics(k pipeline.Kind, rows int) *pipeline.Metrics {
	m := &pipeline.Metrics{Values: map[string]string{}, Raw: map[string]float64{}}
	add := func(n, v string) { m.Names = append(m.Names, n); m.Values[n] = v }
	switch k {
	case pipeline.KindHospital:
		add("patients", fmt.Sprint(rows))
		add("avg_stay_days", "4.2")
		add("readmission_rate", "12.5%")
	case pipeline.KindBank:
		add("transactions", fmt.Sprint(rows))
		add("total_volume", "$1.84M")
		add("fraud_rate", "0.8%")
	default:
		add("orders", fmt.Sprint(rows))
		add("revenue", "$96.3K")
		add("return_rate", "7.1%")
	}
	return m
}

func (f *fakeCtrl) RunAll(ctx context.Context) error {
	defer f.begin("RunAll")()
	for i := range f.tenants {
		if f.states[i].Stage == pipeline.StageRelease {
			f.states[i].Stage = pipeline.StageNone
		}
		for f.states[i].Stage != pipeline.StageRelease {
			if err := f.stepLocked(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// actingAgent returns the tenant's live agent, or else a dedicated one
// (dedicated true) that is not the tenant's and is released after use.
func (f *fakeCtrl) actingAgent(i int) (a *pipeline.AgentInfo, dedicated bool) {
	if a := f.states[i].Agent; f.live(a) {
		return a, false
	}
	t := f.tenants[i]
	return f.newAgent(t, "probe", t.Scopes()), true
}

// releaseDedicated releases a dedicated agent after its one use.
func (f *fakeCtrl) releaseDedicated(tenant string, a *pipeline.AgentInfo) {
	a.State = pipeline.AgentReleased
	f.auditf("token_released", a.SPIFFEID, a.TaskID, "success", "token released | jti=%s", a.JTI)
}

func (f *fakeCtrl) probe(actor, target string, op pipeline.Op, released bool) (pipeline.ProbeResult, error) {
	f.pause()
	f.mu.Lock()
	defer f.mu.Unlock()
	ai, err := f.idx(actor)
	if err != nil {
		return pipeline.ProbeResult{}, err
	}
	ti, err := f.idx(target)
	if err != nil {
		return pipeline.ProbeResult{}, err
	}
	if released {
		a := f.states[ai].Agent
		if a == nil {
			return pipeline.ProbeResult{}, fmt.Errorf("%s has no agent yet: create one first", actor)
		}
		return f.probeWith(a, actor, f.tenants[ti], op), nil
	}
	a, dedicated := f.actingAgent(ai)
	r := f.probeWith(a, actor, f.tenants[ti], op)
	if dedicated {
		f.releaseDedicated(actor, a)
		r.Dedicated = true
	}
	return r, nil
}

func (f *fakeCtrl) probeWith(a *pipeline.AgentInfo, actor string, target pipeline.Tenant, op pipeline.Op) pipeline.ProbeResult {
	r := pipeline.ProbeResult{Actor: actor, Target: target.ID, Op: op}
	r.Local = f.localCheck(a, actor, target, op)
	r.Store = f.storeCheck(a, actor, target, op)
	return r
}

func (f *fakeCtrl) Probe(ctx context.Context, actor, target string, op pipeline.Op) (pipeline.ProbeResult, error) {
	f.mu.Lock()
	f.record("Probe %s %s %s", actor, target, op)
	f.mu.Unlock()
	return f.probe(actor, target, op, false)
}

func (f *fakeCtrl) ProbeReleased(ctx context.Context, actor, target string, op pipeline.Op) (pipeline.ProbeResult, error) {
	f.mu.Lock()
	f.record("ProbeReleased %s %s %s", actor, target, op)
	f.mu.Unlock()
	return f.probe(actor, target, op, true)
}

func (f *fakeCtrl) IsolationCheck(ctx context.Context) (pipeline.IsolationResult, error) {
	defer f.begin("IsolationCheck")()
	if len(f.tenants) < 2 {
		return pipeline.IsolationResult{}, errors.New("the isolation check needs at least two tenants")
	}
	a, b, c := f.tenants[0], f.tenants[1], f.tenants[2%len(f.tenants)]
	ga := f.newAgent(a, "cross-tenant-test", a.Scopes())
	gb := f.newAgent(b, "cross-tenant-test", b.Scopes())
	f.emit(pipeline.Event{Kind: pipeline.EventAgentCreated, Tenant: a.ID, Agent: ga,
		Message: fmt.Sprintf("isolation check: %s agent %s, scope %v", a.ID, ga.SPIFFEID, ga.Scope)})
	specs := []struct {
		name   string
		g      *pipeline.AgentInfo
		actor  pipeline.Tenant
		target pipeline.Tenant
		op     pipeline.Op
		expect bool
	}{
		{fmt.Sprintf("%s agent cannot read %s data", a.ID, b.ID), ga, a, b, pipeline.OpRead, false},
		{fmt.Sprintf("%s agent cannot write %s reports", a.ID, c.ID), ga, a, c, pipeline.OpWrite, false},
		{fmt.Sprintf("%s agent can read its own data", a.ID), ga, a, a, pipeline.OpRead, true},
		{fmt.Sprintf("%s agent cannot write %s reports", b.ID, a.ID), gb, b, a, pipeline.OpWrite, false},
	}
	res := pipeline.IsolationResult{Passed: true}
	for _, s := range specs {
		p := f.probeWith(s.g, s.actor.ID, s.target, s.op)
		ok := p.Local.Allowed == s.expect && p.Store.Allowed == s.expect
		res.Checks = append(res.Checks, pipeline.IsolationCheck{Name: s.name, Expect: s.expect, Probe: p, Pass: ok})
		res.Passed = res.Passed && ok
	}
	f.emit(pipeline.Event{Kind: pipeline.EventInfo, Message: "Cross-tenant isolation verified."})
	for _, tg := range []struct {
		id string
		g  *pipeline.AgentInfo
	}{{a.ID, ga}, {b.ID, gb}} {
		tg.g.State = pipeline.AgentReleased
		f.emit(pipeline.Event{Kind: pipeline.EventReleased, Tenant: tg.id, Agent: tg.g,
			Message: fmt.Sprintf("%s: agent %s released", tg.id, tg.g.SPIFFEID)})
	}
	return res, nil
}

func (f *fakeCtrl) Matrix(ctx context.Context) (pipeline.MatrixResult, error) {
	defer f.begin("Matrix")()
	n := len(f.tenants)
	res := pipeline.MatrixResult{Probes: make([]pipeline.ProbeResult, 2*n*n)}
	for ai, a := range f.tenants {
		res.Tenants = append(res.Tenants, a.ID)
		g := f.newAgent(a, "matrix", a.Scopes())
		for ti, t := range f.tenants {
			for oi, op := range []pipeline.Op{pipeline.OpRead, pipeline.OpWrite} {
				p := f.probeWith(g, a.ID, t, op)
				res.Probes[(ai*n+ti)*2+oi] = p
				if p.Store.Allowed != (ai == ti) {
					res.Failures++
				}
			}
		}
		g.State = pipeline.AgentReleased
	}
	return res, nil
}

func (f *fakeCtrl) agentOf(tenant string) (int, *pipeline.AgentInfo, error) {
	i, err := f.idx(tenant)
	if err != nil {
		return -1, nil, err
	}
	a := f.states[i].Agent
	if a == nil {
		return i, nil, fmt.Errorf("%s has no agent", tenant)
	}
	return i, a, nil
}

func (f *fakeCtrl) Renew(ctx context.Context, tenant string) error {
	defer f.begin("Renew %s", tenant)()
	_, a, err := f.agentOf(tenant)
	if err != nil {
		return fmt.Errorf("%s has no agent to renew", tenant)
	}
	if !f.live(a) {
		return fmt.Errorf("renew %s agent: token is %s", tenant, a.State)
	}
	f.ids++
	old := a.JTI
	a.JTI = fmt.Sprintf("%08x%024x", 0x7c41e0b2+0x1111*f.ids, f.ids)
	a.IssuedAt, a.ExpiresAt = f.now(), f.now().Add(f.ttl)
	a.Renewals++
	f.auditf("token_renewed", a.SPIFFEID, a.TaskID, "success", "token renewed for agent=%s new_jti=%s", a.SPIFFEID, a.JTI)
	f.emit(pipeline.Event{Kind: pipeline.EventRenewed, Tenant: tenant, Agent: a,
		Message: fmt.Sprintf("%s: renewed, jti %s… → %s…", tenant, old[:8], a.JTI[:8])})
	return nil
}

func (f *fakeCtrl) Release(ctx context.Context, tenant string) error {
	defer f.begin("Release %s", tenant)()
	_, a, err := f.agentOf(tenant)
	if err != nil {
		return fmt.Errorf("%s has no agent to release", tenant)
	}
	if !f.live(a) && a.State != pipeline.AgentReleased {
		// As the broker: a dead token's release is refused, and the state
		// stays what it is.
		state := "revoked"
		if a.State != pipeline.AgentRevoked {
			state = "expired"
		}
		return fmt.Errorf("release refused by the broker (token has been revoked): the token is already %s", state)
	}
	f.releaseLocked(tenant, a)
	return nil
}

func (f *fakeCtrl) releaseLocked(tenant string, a *pipeline.AgentInfo) bool {
	if a.State != pipeline.AgentActive {
		return false
	}
	a.State = pipeline.AgentReleased
	f.auditf("token_released", a.SPIFFEID, a.TaskID, "success", "token released | jti=%s", a.JTI)
	f.emit(pipeline.Event{Kind: pipeline.EventReleased, Tenant: tenant, Agent: a,
		Message: fmt.Sprintf("%s: agent %s released", tenant, a.SPIFFEID)})
	return true
}

func (f *fakeCtrl) Shutdown(ctx context.Context) pipeline.ShutdownResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Shutdown")
	var res pipeline.ShutdownResult
	for i, s := range f.states {
		if s.Agent != nil && f.releaseLocked(f.tenants[i].ID, s.Agent) {
			res.Released++
		}
	}
	return res
}

func (f *fakeCtrl) Health(ctx context.Context) (pipeline.Health, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Health")
	if f.healthErr != nil {
		return pipeline.Health{At: f.now()}, f.healthErr
	}
	return pipeline.Health{Status: "ok", Version: "v2.0.0", At: f.now()}, nil
}

func (f *fakeCtrl) Revoke(ctx context.Context, tenant, level string) error {
	defer f.begin("Revoke %s %s", tenant, level)()
	if !f.adminOK {
		return errors.New("revoke unavailable: " + f.adminWhy)
	}
	_, a, err := f.agentOf(tenant)
	if err != nil {
		return fmt.Errorf("%s has no agent to revoke", tenant)
	}
	if level != "chain" && a.State == pipeline.AgentActive {
		a.State = pipeline.AgentRevoked
	}
	f.auditf("token_revoked", a.SPIFFEID, a.TaskID, "success", "revoked at level=%s target=%s", level, a.JTI)
	f.emit(pipeline.Event{Kind: pipeline.EventRevoked, Tenant: tenant, Agent: a,
		Message: fmt.Sprintf("%s: revoked at level %s; agent token now refused", tenant, level)})
	return nil
}

func (f *fakeCtrl) Delegate(ctx context.Context, from, to string, scopes []string) (pipeline.DelegationResult, error) {
	defer f.begin("Delegate %s %s %s", from, to, strings.Join(scopes, ","))()
	fi, err := f.idx(from)
	if err != nil {
		return pipeline.DelegationResult{}, err
	}
	ti, err := f.idx(to)
	if err != nil {
		return pipeline.DelegationResult{}, err
	}
	gf, df := f.actingAgent(fi)
	gt, dt := f.actingAgent(ti)
	defer func() {
		if df {
			f.releaseDedicated(from, gf)
		}
		if dt {
			f.releaseDedicated(to, gt)
		}
	}()
	res := pipeline.DelegationResult{From: from, To: to, Scope: scopes}
	acc := pipeline.Access{Time: f.now(), AgentID: gf.SPIFFEID, JTI: gf.JTI, Actor: from, Target: to,
		Layer: pipeline.LayerBroker, Required: scopes, Held: gf.Scope}
	if !scope.IsSubset(scopes, gf.Scope) {
		res.Code, res.Reason = "scope_violation", "delegated scope exceeds delegator scope"
		acc.Code, acc.Reason = res.Code, "broker refused delegation: "+res.Reason
		f.auditf("delegation_attenuation_violation", gf.SPIFFEID, gf.TaskID, "denied",
			"delegation_attenuation_violation | delegator=%s | target=%s", gf.SPIFFEID, gt.SPIFFEID)
		f.emit(pipeline.Event{Kind: pipeline.EventDecision, Tenant: from, Access: &acc, Message: msgOf(acc)})
		return res, nil
	}
	res.Allowed, res.Token, res.Expires, res.Released = true, "eyJhbGciOiJF…", f.now().Add(time.Minute), true
	res.Chain = []pipeline.ChainLink{{Agent: gf.SPIFFEID, Scope: gf.Scope, DelegatedAt: f.now().UTC().Format(time.RFC3339)}}
	acc.Allowed, acc.Reason = true, fmt.Sprintf("delegated %v to %s (chain depth 1)", scopes, gt.SPIFFEID)
	f.auditf("delegation_created", gt.SPIFFEID, gf.TaskID, "success", "delegation from %s to %s scope=[%s] depth=1",
		gf.SPIFFEID, gt.SPIFFEID, strings.Join(scopes, " "))
	f.emit(pipeline.Event{Kind: pipeline.EventDecision, Tenant: from, Access: &acc, Message: msgOf(acc)})
	f.emit(pipeline.Event{Kind: pipeline.EventDelegated, Tenant: from, Message: fmt.Sprintf("%s → %s: delegated %v, chain depth 1", from, to, scopes)})
	return res, nil
}

func (f *fakeCtrl) CreateOverCeiling(ctx context.Context, tenant string) (pipeline.Access, error) {
	defer f.begin("CreateOverCeiling %s", tenant)()
	if _, err := f.idx(tenant); err != nil {
		return pipeline.Access{}, err
	}
	acc := pipeline.Access{Time: f.now(), Actor: tenant, Target: tenant, Layer: pipeline.LayerBroker,
		Required: []string{"read:billing:" + tenant}, Held: []string{"read:analytics:*", "write:reports:*"},
		Code: "scope_violation", Reason: "broker refused: requested scope exceeds allowed scope"}
	f.auditf("scope_ceiling_exceeded", "", "", "denied", "app=app-tenant-console requested=[read:billing:%s] ceiling=[read:analytics:* write:reports:*]", tenant)
	f.emit(pipeline.Event{Kind: pipeline.EventDecision, Tenant: tenant, Access: &acc, Message: msgOf(acc)})
	return acc, nil
}

func (f *fakeCtrl) Audit(ctx context.Context, flt pipeline.AuditFilter) (pipeline.AuditResult, error) {
	defer f.begin("Audit %s|%s|%s", flt.Tenant, flt.AgentID, flt.EventType)()
	if !f.adminOK {
		return pipeline.AuditResult{}, errors.New("audit unavailable: " + f.adminWhy)
	}
	res := pipeline.AuditResult{Total: len(f.audit), ChainOK: true, ChainMsg: fmt.Sprintf("chain verified, %d events", len(f.audit))}
	for _, e := range f.audit {
		if (flt.Tenant == "" || e.Tenant == flt.Tenant) && (flt.AgentID == "" || e.AgentID == flt.AgentID) &&
			(flt.EventType == "" || e.Type == flt.EventType) {
			res.Entries = append(res.Entries, e)
		}
	}
	return res, nil
}

func (f *fakeCtrl) AdminAvailable() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.adminOK, f.adminWhy
}
