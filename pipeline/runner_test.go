package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var ctx = context.Background()

func kinds_(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		s := ev.Kind.String()
		if ev.Stage != StageNone {
			s += ":" + ev.Stage.String()
		}
		if ev.Access != nil {
			s += ":" + string(ev.Access.Layer) + ":" + ev.Access.Verdict()
		}
		out = append(out, s)
	}
	return out
}

func TestStepSequenceOneTenant(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	for range Stages {
		if err := r.Step(ctx, "hospital"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"stage_started:create", "agent_created:create", "stage_finished:create",
		"stage_started:extract", "decision:local:ALLOW", "decision:store:ALLOW", "stage_finished:extract",
		"stage_started:transform", "decision:local:ALLOW", "stage_finished:transform",
		"stage_started:load", "decision:local:ALLOW", "decision:store:ALLOW", "report_written:load", "stage_finished:load",
		"stage_started:release", "released:release", "stage_finished:release",
	}
	evs := e.take()
	if got := kinds_(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	created := evs[1].Agent
	if !strings.HasPrefix(created.SPIFFEID, "spiffe://agentwrit.local/agent/nightly-pipeline/etl-hospital-") ||
		!reflect.DeepEqual(created.Scope, []string{"read:analytics:hospital", "write:reports:hospital"}) ||
		created.ExpiresAt.Sub(created.IssuedAt) != 300*time.Second || created.State != AgentActive {
		t.Fatalf("agent: %+v", created)
	}
	if got := evs[6].Rows; got != SeedHospitalVisits {
		t.Fatalf("extracted %d rows, want %d", got, SeedHospitalVisits)
	}
	st := r.Snapshot()[0]
	if st.Stage != StageRelease || st.Agent.State != AgentReleased || st.Metrics == nil || st.Report == "" {
		t.Fatalf("snapshot: %+v", st)
	}
	if r.LiveAgents() != 0 {
		t.Fatal("agent still live after release")
	}
}

func TestRunAllReportsAndRelease(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	if err := r.RunAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, st := range r.Snapshot() {
		path := filepath.Join(e.reports, st.Tenant.ID, "latest.json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Tenant != st.Tenant.ID || rep.AgentID != st.Agent.SPIFFEID || rep.TaskID != st.Agent.TaskID ||
			len(rep.Metrics) != 3 || rep.Rows != st.Rows || rep.Rows == 0 {
			t.Fatalf("%s report: %+v", st.Tenant.ID, rep)
		}
		if st.ReportJSON != string(raw) {
			t.Fatalf("%s: snapshot report differs from disk", st.Tenant.ID)
		}
		// Only the report itself is left in the directory: no temporary files.
		ents, _ := os.ReadDir(filepath.Dir(path))
		if len(ents) != 1 {
			t.Fatalf("%s: %d files in report dir", st.Tenant.ID, len(ents))
		}
		if st.Agent.State != AgentReleased {
			t.Fatalf("%s agent %v", st.Tenant.ID, st.Agent.State)
		}
	}
	if r.LiveAgents() != 0 {
		t.Fatal("live agents remain")
	}
}

func TestIsolationCheck(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	res, err := r.IsolationCheck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || len(res.Checks) != 4 {
		t.Fatalf("result: %+v", res)
	}
	want := []struct {
		actor, target string
		op            Op
		allowed       bool
		reason        string
	}{
		{"hospital", "bank", OpRead, false, `identifier "bank" ≠ "hospital"`},
		{"hospital", "retail", OpWrite, false, `identifier "retail" ≠ "hospital"`},
		{"hospital", "hospital", OpRead, true, "covered by read:analytics:hospital"},
		{"bank", "hospital", OpWrite, false, `identifier "hospital" ≠ "bank"`},
	}
	for i, w := range want {
		p := res.Checks[i].Probe
		if p.Actor != w.actor || p.Target != w.target || p.Op != w.op {
			t.Fatalf("check %d: %+v", i, p)
		}
		for _, a := range []Access{p.Local, p.Store} {
			if a.Allowed != w.allowed || !strings.Contains(a.Reason, w.reason) {
				t.Errorf("check %d %s layer: allowed=%v reason=%q", i, a.Layer, a.Allowed, a.Reason)
			}
		}
		if p.Store.Layer != LayerStore || p.Local.Layer != LayerLocal {
			t.Errorf("layers: %v %v", p.Local.Layer, p.Store.Layer)
		}
		// The store's held scope comes from the broker's validation.
		if !reflect.DeepEqual(p.Store.Held, []string{"read:analytics:" + w.actor, "write:reports:" + w.actor}) {
			t.Errorf("store held %v", p.Store.Held)
		}
	}
	// The denied write wrote nothing.
	if _, err := os.Stat(filepath.Join(e.reports, "retail", "probe.json")); !os.IsNotExist(err) {
		t.Fatalf("denied write left a file: %v", err)
	}
	if r.LiveAgents() != 0 {
		t.Fatal("isolation agents not released")
	}
}

func TestMatrix(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	m, err := r.Matrix(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Probes) != 18 || m.Failures != 0 {
		t.Fatalf("matrix: %d probes, %d failures", len(m.Probes), m.Failures)
	}
	allowed := 0
	for _, p := range m.Probes {
		if p.Store.Allowed {
			allowed++
			if p.Actor != p.Target {
				t.Fatalf("cross-tenant allowed: %+v", p)
			}
		}
	}
	if allowed != 6 {
		t.Fatalf("%d allowed, want 6", allowed)
	}
}

func TestReleasedTokenRefusedByStore(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	if err := r.Step(ctx, "hospital"); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(ctx, "hospital"); err != nil {
		t.Fatal(err)
	}
	p, err := r.ProbeReleased(ctx, "hospital", "hospital", OpRead)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Local.Allowed || p.Store.Allowed || p.Store.Code != "token_invalid" {
		t.Fatalf("local %v store %v (%s: %s)", p.Local.Allowed, p.Store.Allowed, p.Store.Code, p.Store.Reason)
	}
	if a := r.Snapshot()[0].Agent; p.Store.AgentID != a.SPIFFEID || p.Store.JTI != a.JTI {
		t.Fatalf("refused access not attributed to the agent: %+v", p.Store)
	}
	// A tenant whose agent was released mid-run starts over with a fresh
	// agent: no stage retries a dead token.
	old := r.Snapshot()[0].Agent.SPIFFEID
	r.tenants[0].stage = StageCreate
	if err := r.Step(ctx, "hospital"); err != nil {
		t.Fatalf("step after release: %v", err)
	}
	st := r.Snapshot()[0]
	if st.Stage != StageCreate || st.Agent.SPIFFEID == old || st.Agent.State != AgentActive {
		t.Fatalf("after release, enter must start over with a fresh agent: stage %v agent %+v", st.Stage, st.Agent)
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	r := e.runnerWith(t, nil, func(c *Config) { c.TTL = 5 * time.Second })
	if err := r.Step(ctx, "bank"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Second)
	if st := r.Snapshot()[1]; st.Agent.State != AgentExpired {
		t.Fatalf("state %v", st.Agent.State)
	}
	if r.LiveAgents() != 0 || len(r.LiveCredentials()) != 0 {
		t.Fatal("expired agent counted live")
	}
	// The store refuses the expired token...
	p, err := r.ProbeReleased(ctx, "bank", "bank", OpRead)
	if err != nil || p.Store.Allowed || p.Store.Code != "token_invalid" {
		t.Fatalf("expired token at the store: %+v %v", p.Store, err)
	}
	// ...and the next step starts the tenant over with a fresh agent.
	old := r.Snapshot()[1].Agent.SPIFFEID
	if err := r.Step(ctx, "bank"); err != nil {
		t.Fatalf("step after expiry: %v", err)
	}
	if st := r.Snapshot()[1]; st.Stage != StageCreate || st.Agent.SPIFFEID == old || st.Agent.State != AgentActive {
		t.Fatalf("after expiry: stage %v agent %+v", st.Stage, st.Agent)
	}
}

func TestRenew(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	if err := r.Step(ctx, "retail"); err != nil {
		t.Fatal(err)
	}
	before := r.Snapshot()[2].Agent
	e.clock.Advance(100 * time.Second)
	e.take()
	if err := r.Renew(ctx, "retail"); err != nil {
		t.Fatal(err)
	}
	after := r.Snapshot()[2].Agent
	if after.SPIFFEID != before.SPIFFEID || after.JTI == before.JTI || !after.ExpiresAt.After(before.ExpiresAt) || after.Renewals != 1 {
		t.Fatalf("before %+v after %+v", before, after)
	}
	evs := e.take()
	if got := kinds_(evs); !reflect.DeepEqual(got, []string{"renewed", "decision:broker:DENY"}) {
		t.Fatalf("events %q", got)
	}
	if !strings.Contains(evs[1].Access.Reason, "refused after renew") {
		t.Fatalf("reason %q", evs[1].Access.Reason)
	}
	// The renewed token still works at the store.
	if err := r.Step(ctx, "retail"); err != nil {
		t.Fatal(err)
	}
}

func TestRevokeLevels(t *testing.T) {
	for _, level := range []string{"token", "agent", "task", "chain"} {
		t.Run(level, func(t *testing.T) {
			e := newEnv(t)
			r := e.runner(t, nil)
			if err := r.Step(ctx, "hospital"); err != nil {
				t.Fatal(err)
			}
			if err := r.Revoke(ctx, "hospital", level); err != nil {
				t.Fatal(err)
			}
			st := r.Snapshot()[0].Agent.State
			p, err := r.ProbeReleased(ctx, "hospital", "hospital", OpRead)
			if err != nil {
				t.Fatal(err)
			}
			if level == "chain" {
				// Chain revocation spares the root's own token (§7).
				if st != AgentActive || !p.Store.Allowed {
					t.Fatalf("chain: state %v store %v", st, p.Store.Allowed)
				}
				return
			}
			if st != AgentRevoked || p.Store.Allowed || p.Store.Code != "token_invalid" {
				t.Fatalf("%s: state %v store %+v", level, st, p.Store)
			}
		})
	}
}

func TestDelegationChainRoot(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	if err := r.Step(ctx, "hospital"); err != nil {
		t.Fatal(err)
	}
	res, err := r.Delegate(ctx, "hospital", "bank", []string{"read:analytics:hospital"})
	if err != nil || !res.Allowed || len(res.Chain) != 1 {
		t.Fatalf("delegate: %+v %v", res, err)
	}
	if res.Chain[0].Agent != r.Snapshot()[0].Agent.SPIFFEID {
		t.Fatalf("chain root %s", res.Chain[0].Agent)
	}
}

func TestDelegation(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	wide, err := r.Delegate(ctx, "hospital", "bank", []string{"read:analytics:bank"})
	if err != nil {
		t.Fatal(err)
	}
	if wide.Allowed || wide.Code != "scope_violation" {
		t.Fatalf("wide: %+v", wide)
	}
	narrow, err := r.Delegate(ctx, "hospital", "bank", []string{"read:analytics:hospital"})
	if err != nil {
		t.Fatal(err)
	}
	if !narrow.Allowed || len(narrow.Chain) != 1 ||
		!reflect.DeepEqual(narrow.Chain[0].Scope, []string{"read:analytics:hospital", "write:reports:hospital"}) {
		t.Fatalf("narrow: %+v", narrow)
	}
	var layers []string
	for _, ev := range e.take() {
		if ev.Kind == EventDecision && ev.Access.Layer == LayerBroker {
			layers = append(layers, ev.Access.Verdict()+":"+ev.Access.Code)
		}
	}
	if !reflect.DeepEqual(layers, []string{"DENY:scope_violation", "ALLOW:"}) {
		t.Fatalf("broker decisions %q", layers)
	}
}

func TestOverCeiling(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	a, err := r.CreateOverCeiling(ctx, "bank")
	if err != nil {
		t.Fatal(err)
	}
	if a.Allowed || a.Code != "forbidden" || a.Layer != LayerBroker || !strings.Contains(a.Reason, "exceed app ceiling") {
		t.Fatalf("%+v", a)
	}
}

func TestAuditChainAndFilter(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	if err := r.RunAll(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := r.Audit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !all.ChainOK || all.Total < 10 || !strings.HasPrefix(all.ChainMsg, fmt.Sprintf("chain verified, %d events", all.Total)) {
		t.Fatalf("audit: ok=%v total=%d msg=%q", all.ChainOK, all.Total, all.ChainMsg)
	}
	bank, err := r.Audit(ctx, AuditFilter{Tenant: "bank", EventType: "token_released"})
	if err != nil {
		t.Fatal(err)
	}
	if len(bank.Entries) != 1 || !strings.Contains(bank.Entries[0].TaskID, "etl-bank-") {
		t.Fatalf("bank releases: %+v", bank.Entries)
	}
}

func TestAdminUnavailable(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(nil)
	cfg.Admin, cfg.NoAdminWhy = nil, "AGENTWRIT_ADMIN_SECRET is not set"
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := r.AdminAvailable(); ok || why != cfg.NoAdminWhy {
		t.Fatalf("%v %q", ok, why)
	}
	if err := r.Revoke(ctx, "hospital", "agent"); err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("revoke: %v", err)
	}
}

func TestReleaseAll(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	for _, id := range []string{"hospital", "bank"} {
		if err := r.Step(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	var tokens []string
	for _, tr := range r.tenants[:2] {
		tokens = append(tokens, tr.agent.Token())
	}
	n, err := r.ReleaseAll(ctx)
	if err != nil || n != 2 {
		t.Fatalf("released %d, %v", n, err)
	}
	for _, tok := range tokens {
		if e.valid(t, tok) {
			t.Fatal("token still valid after ReleaseAll")
		}
	}
	if n, _ := r.ReleaseAll(ctx); n != 0 {
		t.Fatalf("second ReleaseAll released %d", n)
	}
}

func TestRenewDue(t *testing.T) {
	e := newEnv(t)
	r := e.runnerWith(t, nil, func(c *Config) { c.TTL = 60 * time.Second })
	if err := r.Step(ctx, "hospital"); err != nil {
		t.Fatal(err)
	}
	if n := r.RenewDue(ctx); n != 0 {
		t.Fatalf("renewed %d with 60 s left", n)
	}
	e.clock.Advance(50 * time.Second) // 10 s left of 60: inside the 12 s margin
	if n := r.RenewDue(ctx); n != 1 {
		t.Fatalf("renewed %d with 10 s left", n)
	}
	a := r.Snapshot()[0].Agent
	if a.State != AgentActive || a.Renewals != 1 || a.ExpiresAt.Sub(e.clock.Now()) != 60*time.Second {
		t.Fatalf("after auto-renew: %+v", a)
	}
}

func TestReleaseAllSkipsExpired(t *testing.T) {
	e := newEnv(t)
	r := e.runnerWith(t, nil, func(c *Config) { c.TTL = 5 * time.Second })
	if err := r.Step(ctx, "hospital"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Second)
	if err := r.Step(ctx, "bank"); err != nil {
		t.Fatal(err)
	}
	if n, err := r.ReleaseAll(ctx); n != 1 || err != nil {
		t.Fatalf("released %d (%v), want only the bank's live agent", n, err)
	}
	if st := r.Snapshot()[0].Agent.State; st != AgentExpired {
		t.Fatalf("expired agent now %v", st)
	}
}
