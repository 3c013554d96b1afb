package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tenantui/tenantui/pipeline"
)

// Direct Update tests: one per key (or key group), asserting the model's
// state, the message the returned command produces, and the Controller
// calls the fake recorded.

func wantCalls(t *testing.T, f *fakeCtrl, want ...string) {
	t.Helper()
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Fatalf("controller calls = %q, want %q", got, want)
	}
}

func wantScreen(t *testing.T, m Model, subs ...string) {
	t.Helper()
	s := plain(m)
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("screen lacks %q:\n%s", sub, s)
		}
	}
}

func TestKeyUpDownSelectTenant(t *testing.T) {
	for _, keys := range [][2]string{{"down", "up"}, {"j", "k"}} {
		t.Run(keys[0]+"/"+keys[1], func(t *testing.T) {
			m, f, _ := newTestModel(t, 100, 30)
			nm, cmd := m.Update(keyPress(keys[0]))
			m = nm.(Model)
			if cmd != nil {
				if _, ok := cmd().(stepDoneMsg); ok {
					t.Fatal("moving the selection must not call the controller")
				}
			}
			if m.tp.sel != 1 {
				t.Fatalf("sel = %d after %s, want 1", m.tp.sel, keys[0])
			}
			wantScreen(t, m, "▶ bank", "Agent · bank")
			m = update(t, m, keyPress(keys[0]))
			m = update(t, m, keyPress(keys[0])) // clamps at the last tenant
			if m.tp.sel != 2 {
				t.Fatalf("sel = %d, want 2 (clamped)", m.tp.sel)
			}
			m = update(t, m, keyPress(keys[1]))
			if m.tp.sel != 1 {
				t.Fatalf("sel = %d after %s, want 1", m.tp.sel, keys[1])
			}
			wantCalls(t, f)
		})
	}
}

func TestKeyStepEnterAndSpace(t *testing.T) {
	for _, k := range []string{"enter", "space"} {
		t.Run(k, func(t *testing.T) {
			m, f, _ := newTestModel(t, 100, 30)
			nm, cmd := m.Update(keyPress(k))
			m = nm.(Model)
			if m.busy != 1 || !m.tp.stages[0].inflight {
				t.Fatalf("busy=%d inflight=%v, want a step in flight", m.busy, m.tp.stages[0].inflight)
			}
			wantScreen(t, m, "hospital: create…") // the status line says what runs
			msg := firstMsg[stepDoneMsg](t, cmd)
			if msg.tenant != "hospital" || msg.err != nil || len(msg.snap) != 3 || msg.snap[0].Agent == nil {
				t.Fatalf("stepDoneMsg = %+v", msg)
			}
			wantCalls(t, f, "Step hospital")
			m = update(t, m, msg)
			if m.busy != 0 || m.tp.stages[0].inflight || m.tp.states[0].Stage != pipeline.StageCreate {
				t.Fatalf("after done: busy=%d inflight=%v stage=%v", m.busy, m.tp.stages[0].inflight, m.tp.states[0].Stage)
			}
			wantScreen(t, m, "hospital: create done", "ACTIVE", "expires in 5:00", "jti 3f9a3d2e")
		})
	}
}

func TestKeyStepWhileRunningIsRefused(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m = update(t, m, keyPress("enter"))
	nm, cmd := m.Update(keyPress("enter"))
	m = nm.(Model)
	if cmd != nil {
		t.Fatal("a second step on a busy tenant must not start")
	}
	if !m.statusErr || !strings.Contains(m.status, "busy") {
		t.Fatalf("status = %q", m.status)
	}
	wantCalls(t, f)
}

func TestKeyStepThroughEveryStage(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	ev := make(chan pipeline.Event, 256)
	f := m.ctrl.(*fakeCtrl)
	f.events = ev
	m, _ = press(t, m, "enter", "enter", "enter", "enter")
	m = feed(t, m, ev)
	wantScreen(t, m, "✓ ✓ ✓ ✓ ·", "extract   read:analytics:hospital ALLOW", "load      write:reports:hospital  ALLOW",
		"reports/hospital/latest.json")
	m, _ = press(t, m, "enter")
	m = feed(t, m, ev)
	wantScreen(t, m, "✓ ✓ ✓ ✓ ✓", "RELEASED", "run complete")
}

func TestKeyRunAll(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	nm, cmd := m.Update(keyPress("a"))
	m = nm.(Model)
	if !m.runAll {
		t.Fatal("run all not marked as running")
	}
	msg := firstMsg[runAllDoneMsg](t, cmd)
	wantCalls(t, f, "RunAll")
	m = update(t, m, msg)
	for i, s := range m.tp.states {
		if s.Stage != pipeline.StageRelease {
			t.Fatalf("tenant %d at %v after run all", i, s.Stage)
		}
	}
	if m.runAll || !strings.HasPrefix(m.status, "3/3 done in ") || !strings.HasSuffix(m.status, " s, 0 failed") {
		t.Fatalf("runAll=%v status=%q", m.runAll, m.status)
	}
	// While it runs, a second `a` is refused.
	m = update(t, m, keyPress("a"))
	if nm, cmd := m.Update(keyPress("a")); cmd != nil || !nm.(Model).statusErr {
		t.Fatal("second run all while running must be refused")
	}
}

func TestKeyCrossTenantForm(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	nm, cmd := m.Update(keyPress("x"))
	m = nm.(Model)
	if cmd != nil {
		t.Fatal("opening the form must not call the controller")
	}
	if m.mode != modeCross || m.form.actor != 0 || m.form.target != 1 || m.form.op != pipeline.OpRead || m.form.field != 0 {
		t.Fatalf("form = %+v mode=%v", m.form, m.mode)
	}
	wantScreen(t, m, "▸ acting agent", "‹ hospital", "‹ bank", "needs read:analytics:bank")
	// The main keys are off while the form has the keyboard.
	if m.km.Step.Enabled() || !m.km.Run.Enabled() {
		t.Fatal("keymap not switched to the form")
	}

	// right/tab move fields, down/up change values.
	m = update(t, m, keyPress("right"))
	m = update(t, m, keyPress("down")) // target bank → retail
	m = update(t, m, keyPress("tab"))
	m = update(t, m, keyPress("down")) // read → write
	m = update(t, m, keyPress("left"))
	m = update(t, m, keyPress("up")) // target retail → bank
	m = update(t, m, keyPress("down"))
	if m.form.field != 1 || m.form.target != 2 || m.form.op != pipeline.OpWrite {
		t.Fatalf("form = %+v", m.form)
	}
	wantScreen(t, m, "write report", "needs write:reports:retail")

	nm, cmd = m.Update(keyPress("enter"))
	m = nm.(Model)
	if m.mode != modeMain || m.detail != detailProbe || !m.probe.pending {
		t.Fatalf("after enter: mode=%v detail=%v probe=%+v", m.mode, m.detail, m.probe)
	}
	msg := firstMsg[probeDoneMsg](t, cmd)
	if msg.released || msg.res.Actor != "hospital" || msg.res.Target != "retail" || msg.res.Op != pipeline.OpWrite {
		t.Fatalf("probe = %+v", msg.res)
	}
	if msg.res.Local.Allowed || msg.res.Store.Allowed {
		t.Fatal("a cross-tenant write must be denied by both layers")
	}
	wantCalls(t, f, "Probe hospital retail write")
	m = update(t, m, msg)
	wantScreen(t, m, "LOCAL CHECK", "STORE CHECK", "DENY", "required write:reports:retail", "held     read:analytics:hospital",
		"         write:reports:hospital", `identifier "retail" ≠ "hospital"`, "BLOCKED by both layers")

	// Reopening keeps the values, with focus back on the actor.
	m = update(t, m, keyPress("x"))
	if m.form.field != 0 || m.form.target != 2 || m.form.op != pipeline.OpWrite {
		t.Fatalf("reopened form = %+v", m.form)
	}
	m = update(t, m, keyPress("esc"))
	if m.mode != modeMain {
		t.Fatal("esc must cancel the form")
	}
	wantCalls(t, f, "Probe hospital retail write")
}

func TestKeyCrossTenantOwnReadAllowed(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "x", "right", "up", "enter") // target bank → hospital
	if m.probe.res.Target != "hospital" || !m.probe.res.Store.Allowed || !m.probe.res.Local.Allowed {
		t.Fatalf("probe = %+v", m.probe.res)
	}
	wantScreen(t, m, "ALLOW", "ALLOWED", "covered by read:analytics:hospital")
}

func TestKeyUseReleasedToken(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter", "d") // create, then release
	if m.tp.states[0].Agent.State != pipeline.AgentReleased {
		t.Fatalf("agent state %v", m.tp.states[0].Agent.State)
	}
	m, _ = press(t, m, "x", "right", "up") // hospital → hospital read
	nm, cmd := m.Update(keyPress("u"))
	m = nm.(Model)
	msg := firstMsg[probeDoneMsg](t, cmd)
	if !msg.released || !msg.res.Local.Allowed || msg.res.Store.Allowed || msg.res.Store.Code != "token_invalid" {
		t.Fatalf("released-token probe = %+v", msg)
	}
	wantCalls(t, f, "Step hospital", "Release hospital", "ProbeReleased hospital hospital read")
	m = update(t, m, msg)
	wantScreen(t, m, "released token", "token_invalid", "refuses the dead token")
}

func TestKeyIsolationCheck(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	nm, cmd := m.Update(keyPress("i"))
	m = nm.(Model)
	if m.detail != detailIsolation || !m.iso.pending {
		t.Fatal("isolation pane not pending")
	}
	msg := firstMsg[isolationDoneMsg](t, cmd)
	if !msg.res.Passed || len(msg.res.Checks) != 4 {
		t.Fatalf("isolation = %+v", msg.res)
	}
	wantCalls(t, f, "IsolationCheck")
	m = update(t, m, msg)
	wantScreen(t, m, "BLOCKED  hospital agent cannot read bank data", "ALLOWED  hospital agent can read its own data",
		"denied by local, store", "Cross-tenant isolation verified.")
}

func TestKeyMatrix(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	nm, cmd := m.Update(keyPress("m"))
	m = nm.(Model)
	msg := firstMsg[matrixDoneMsg](t, cmd)
	if len(msg.res.Probes) != 18 || msg.res.Failures != 0 {
		t.Fatalf("matrix = %d probes, %d failures", len(msg.res.Probes), msg.res.Failures)
	}
	wantCalls(t, f, "Matrix")
	m = update(t, m, msg)
	wantScreen(t, m, "Access matrix", "hospital  R✓ W✓    R✗ W✗    R✗ W✗", "0 failures")
}

func TestKeyRenew(t *testing.T) {
	m, f, clk := newTestModel(t, 100, 30)
	if _, cmd := m.Update(keyPress("r")); cmd != nil {
		t.Fatal("renew without an agent must not call the controller")
	}
	m, _ = press(t, m, "enter")
	clk.t = clk.t.Add(2 * time.Minute)
	wantScreen(t, m, "expires in 3:00")
	gen := m.gen
	nm, cmd := m.Update(keyPress("r"))
	m = nm.(Model)
	msg := firstMsg[renewDoneMsg](t, cmd)
	if msg.tenant != "hospital" || msg.err != nil {
		t.Fatalf("renew = %+v", msg)
	}
	wantCalls(t, f, "Step hospital", "Renew hospital")
	nm, cmd = m.Update(msg)
	m = nm.(Model)
	if m.gen != gen+1 || cmd == nil {
		t.Fatalf("renew must restart the clock chain: gen %d → %d", gen, m.gen)
	}
	wantScreen(t, m, "expires in 5:00", "renewed 1×")
}

func TestKeyRelease(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	if _, cmd := m.Update(keyPress("d")); cmd != nil {
		t.Fatal("release without an agent must not call the controller")
	}
	m, _ = press(t, m, "enter")
	nm, cmd := m.Update(keyPress("d"))
	m = nm.(Model)
	msg := firstMsg[releaseDoneMsg](t, cmd)
	wantCalls(t, f, "Step hospital", "Release hospital")
	m = update(t, m, msg)
	wantScreen(t, m, "RELEASED", "gave its token back", "released")
	if m.tp.live != 0 {
		t.Fatalf("live = %d after release", m.tp.live)
	}
}

func TestKeyRevokeMenu(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter")
	m = update(t, m, keyPress("v"))
	if m.mode != modeRevoke {
		t.Fatal("v must open the revoke menu")
	}
	wantScreen(t, m, "Revoke · hospital agent", "▸ token", "agent", "task", "chain")
	m = update(t, m, keyPress("down"))
	nm, cmd := m.Update(keyPress("enter"))
	m = nm.(Model)
	msg := firstMsg[revokeDoneMsg](t, cmd)
	if msg.level != "agent" || msg.tenant != "hospital" {
		t.Fatalf("revoke = %+v", msg)
	}
	wantCalls(t, f, "Step hospital", "Revoke hospital agent")
	m = update(t, m, msg)
	wantScreen(t, m, "REVOKED", "revoked at level agent")
}

func TestKeyRevokeUnavailable(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter")
	m = update(t, m, adminMsg{ok: false, why: "no admin secret (set AGENTWRIT_ADMIN_SECRET)"})
	m = update(t, m, keyPress("v"))
	wantScreen(t, m, "revoke unavailable", "no admin secret")
	nm, cmd := m.Update(keyPress("enter"))
	m = nm.(Model)
	if cmd != nil || !m.statusErr {
		t.Fatal("revoke must not run when the admin API is unavailable")
	}
	m = update(t, m, keyPress("esc"))
	if m.mode != modeMain {
		t.Fatal("esc must close the menu")
	}
	wantCalls(t, f, "Step hospital")
}

func TestKeyDelegation(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	nm, cmd := m.Update(keyPress("g"))
	m = nm.(Model)
	msg := firstMsg[delegateDoneMsg](t, cmd)
	if len(msg.results) != 2 || msg.results[0].Allowed || msg.results[0].Code != "scope_violation" || !msg.results[1].Allowed {
		t.Fatalf("delegation = %+v", msg.results)
	}
	wantCalls(t, f, "Delegate hospital bank read:analytics:bank", "Delegate hospital bank read:analytics:hospital")
	m = update(t, m, msg)
	wantScreen(t, m, "Delegation · hospital agent → bank agent", "1. DENY  read:analytics:bank", "layer broker · scope_violation",
		"2. ALLOW read:analytics:hospital", "chain", "Scopes only narrow")
}

func TestKeyOverCeiling(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	nm, cmd := m.Update(keyPress("o"))
	m = nm.(Model)
	msg := firstMsg[overCeilingDoneMsg](t, cmd)
	if msg.access.Allowed || msg.access.Layer != pipeline.LayerBroker {
		t.Fatalf("over-ceiling = %+v", msg.access)
	}
	wantCalls(t, f, "CreateOverCeiling hospital")
	m = update(t, m, msg)
	wantScreen(t, m, "DENY  layer broker  403 scope_violation", "requested  read:billing:hospital", "no token was issued")
}

func TestKeyAuditScreen(t *testing.T) {
	m, f, _ := newTestModel(t, 120, 34)
	m, _ = press(t, m, "enter", "down", "enter") // hospital and bank agents
	nm, cmd := m.Update(keyPress("A"))
	m = nm.(Model)
	if m.mode != modeAudit {
		t.Fatal("A must open the audit screen")
	}
	msg := firstMsg[auditDoneMsg](t, cmd)
	if msg.filter != (pipeline.AuditFilter{}) || msg.res.Total != 4 {
		t.Fatalf("audit = %+v", msg)
	}
	m = update(t, m, msg)
	wantScreen(t, m, "Broker audit trail", "chain verified, 4 events", "agent_registered", "token_issued", "tenant ‹ all")
	if got := m.audit.opts[0]; !slices.Equal(got, []string{"", "bank", "hospital"}) {
		t.Fatalf("tenant choices = %q", got)
	}

	// → on the tenant filter asks for bank's events only.
	nm, cmd = m.Update(keyPress("right"))
	m = nm.(Model)
	msg = firstMsg[auditDoneMsg](t, cmd)
	if msg.filter.Tenant != "bank" || len(msg.res.Entries) != 2 {
		t.Fatalf("filtered audit = %+v", msg)
	}
	m = update(t, m, msg)
	wantScreen(t, m, "tenant ‹ bank", "showing 2 of 4")

	// f moves to the next filter (type); ← there picks the last type.
	m = update(t, m, keyPress("f"))
	m = update(t, m, keyPress("f"))
	if m.audit.focus != 2 {
		t.Fatalf("focus = %d", m.audit.focus)
	}
	nm, cmd = m.Update(keyPress("left"))
	m = nm.(Model)
	msg = firstMsg[auditDoneMsg](t, cmd)
	if msg.filter != (pipeline.AuditFilter{Tenant: "bank", EventType: "token_issued"}) || len(msg.res.Entries) != 1 {
		t.Fatalf("filtered audit = %+v", msg)
	}
	m = update(t, m, keyPress("esc"))
	if m.mode != modeMain {
		t.Fatal("esc must return from the audit screen")
	}
	wantCalls(t, f, "Step hospital", "Step bank", "Audit ||", "Audit bank||", "Audit bank||token_issued")
}

func TestKeyAuditUnavailable(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m = update(t, m, adminMsg{ok: false, why: "no admin secret"})
	nm, cmd := m.Update(keyPress("A"))
	m = nm.(Model)
	if cmd != nil {
		t.Fatal("audit must not be fetched when unavailable")
	}
	wantScreen(t, m, "audit unavailable", "no admin secret")
	wantCalls(t, f)
}

func TestKeyPreviewToggle(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter", "enter", "enter", "enter")
	m = update(t, m, keyPress("p"))
	if m.detail != detailPreview {
		t.Fatal("p must open the data preview")
	}
	wantScreen(t, m, "Data · hospital", "1200 extracted", "readmission_rate", `"tenant": "hospital"`)
	m = update(t, m, keyPress("p"))
	if m.detail != detailNone {
		t.Fatal("p again must close it")
	}
}

func TestKeyLogScrollAndEsc(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	for i := range 40 {
		m = update(t, m, eventMsg(pipeline.Event{Time: t0, Kind: pipeline.EventInfo, Message: fmt.Sprintf("note %02d", i)}))
	}
	wantScreen(t, m, "note 39")
	m = update(t, m, keyPress("pgup"))
	if m.log.back == 0 {
		t.Fatal("pgup must scroll the log back")
	}
	if strings.Contains(plain(m), "note 39") || !strings.Contains(plain(m), "newer") {
		t.Fatalf("scrolled log still shows the newest line:\n%s", plain(m))
	}
	m = update(t, m, keyPress("pgdown"))
	if m.log.back != 0 {
		t.Fatalf("pgdown must return to the newest (back=%d)", m.log.back)
	}
	m = update(t, m, keyPress("pgup"))
	m = update(t, m, keyPress("esc"))
	if m.log.back != 0 {
		t.Fatal("esc with no panel open must jump to the newest log line")
	}
	m = update(t, m, keyPress("i"))
	m = update(t, m, keyPress("esc"))
	if m.detail != detailNone {
		t.Fatal("esc must close the detail pane")
	}
}

func TestKeyHelp(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m = update(t, m, keyPress("?"))
	if !m.showHelp {
		t.Fatal("? must show the full help")
	}
	wantScreen(t, m, "Keys", "cross-tenant", "isolation check", "revoke", "delegation", "over-ceiling", "audit")
	m = update(t, m, keyPress("?"))
	if m.showHelp || strings.Contains(plain(m), "╭─ Keys") {
		t.Fatal("? again must hide the full help")
	}
	// The short help is always there.
	wantScreen(t, m, "enter next stage", "? help")
}

func TestKeyQuitReleasesFirst(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter", "down", "enter") // two live agents
	nm, cmd := m.Update(keyPress("q"))
	m = nm.(Model)
	if !m.Quitting() {
		t.Fatal("q must start quitting")
	}
	wantScreen(t, m, "releasing every credential (2 agents live)…")
	msg := firstMsg[shutdownDoneMsg](t, cmd)
	if msg.res.Released != 2 || !msg.res.OK() {
		t.Fatalf("shutdown = %+v", msg.res)
	}
	nm, cmd = m.Update(msg)
	m = nm.(Model)
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("after the release the console must quit")
	}
	if res, done := m.Shutdown(); m.Released() != 2 || !done || !res.OK() {
		t.Fatalf("Released() = %d, shutdown %+v done %v", m.Released(), res, done)
	}
	wantCalls(t, f, "Step hospital", "Step bank", "Shutdown")
	// Keys are ignored while releasing; q twice does not start a second release.
	if _, cmd := m.Update(keyPress("q")); cmd != nil {
		t.Fatal("q while quitting must do nothing")
	}
}

func TestKeyCtrlCTwiceQuitsNow(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	nm, cmd := m.Update(keyPress("ctrl+c"))
	m = nm.(Model)
	if !m.Quitting() || cmd == nil {
		t.Fatal("first ctrl+c must start the release")
	}
	nm, cmd = m.Update(keyPress("ctrl+c"))
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("second ctrl+c must quit at once")
	}
	if nm.(Model).Released() != 0 || !nm.(Model).Abandoned() {
		t.Fatal("nothing was released, and the owner must know the user left at once")
	}
	if _, done := nm.(Model).Shutdown(); done {
		t.Fatal("the shutdown did not finish")
	}
}

func TestCountdownExpiresOnItsOwn(t *testing.T) {
	m, _, clk := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter")
	clk.t = t0.Add(4*time.Minute + 10*time.Second)
	wantScreen(t, m, "ACTIVE", "expires in 0:50")
	clk.t = t0.Add(5 * time.Minute)
	// No snapshot, no event: the card turns EXPIRED from the clock alone.
	wantScreen(t, m, "EXPIRED", "EXPIRED at 20:20:04")
	if m.tp.live != 1 {
		t.Fatal("the table recounts on the tick, not in View")
	}
	nm, cmd := m.Update(tickMsg{gen: m.gen})
	m = nm.(Model)
	if cmd == nil || m.tp.live != 0 {
		t.Fatalf("tick: live=%d, cmd=%v", m.tp.live, cmd != nil)
	}
	wantScreen(t, m, "0 agents live", "EXPIRED")
}

func TestCountdownBarColours(t *testing.T) {
	m, _, clk := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter")
	bar := func() string {
		s := m.tp.states[0]
		return cardCountdown(m.st, &s, clk.t, m.ttl, 40)
	}
	ok, warn, crit := m.st.BarOK.Render("█"), m.st.BarWarn.Render("█"), m.st.BarCrit.Render("█")
	prefix := func(s string) string { return s[:strings.Index(s, "█")] }
	clk.t = t0.Add(time.Minute) // 80% left
	if b := bar(); !strings.Contains(b, prefix(ok)) {
		t.Fatalf("80%% left should use the ok colour: %q", b)
	}
	clk.t = t0.Add(3 * time.Minute) // 40% left
	if b := bar(); !strings.Contains(b, prefix(warn)) {
		t.Fatalf("40%% left should use the warn colour: %q", b)
	}
	clk.t = t0.Add(4*time.Minute + 30*time.Second) // 10% left
	if b := bar(); !strings.Contains(b, prefix(crit)) {
		t.Fatalf("10%% left should use the critical colour: %q", b)
	}
}

func TestStaleTickIsDropped(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	if _, cmd := m.Update(tickMsg{gen: m.gen - 1}); cmd != nil {
		t.Fatal("a tick from an old chain must not re-arm")
	}
	if _, cmd := m.Update(tickMsg{gen: m.gen}); cmd == nil {
		t.Fatal("the current chain must re-arm")
	}
}

func TestTooSmallAndResize(t *testing.T) {
	m, _, _ := newTestModel(t, 79, 24)
	if got := plain(m); !strings.HasPrefix(got, "terminal too small: need 80×24, have 79×24") {
		t.Fatalf("too small screen = %q", got)
	}
	m = update(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	lines := strings.Split(plain(m), "\n")
	if len(lines) != 24 {
		t.Fatalf("80×24 screen has %d lines", len(lines))
	}
	for i, l := range lines {
		if w := len([]rune(l)); w != 80 {
			t.Fatalf("line %d is %d cells: %q", i, w, l)
		}
	}
	m = update(t, m, tea.WindowSizeMsg{Width: 140, Height: 40})
	if !m.layout().wide || len(strings.Split(plain(m), "\n")) != 40 {
		t.Fatal("140 columns must use the two-column layout")
	}
	m = update(t, m, tea.WindowSizeMsg{Width: 100, Height: 23})
	wantScreen(t, m, "have 100×23")
}

func TestControllerErrorsGoToStatusAndLog(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	f.stepErr = errors.New("broker unreachable: connection refused")
	m, _ = press(t, m, "enter")
	if !m.statusErr || !strings.Contains(m.status, "broker unreachable") {
		t.Fatalf("status = %q", m.status)
	}
	wantScreen(t, m, "ERROR", "broker unreachable: connection refused — step hospital", "✗ broker unreachable")
	// The cause leads; the whole text is one key away.
	m = update(t, m, keyPress("e"))
	wantScreen(t, m, "Last error", "step hospital: broker unreachable: connection refused")
	if m.tp.mark(0, pipeline.StageCreate) != markFailed {
		t.Fatal("the failed stage must show ✗")
	}
}

// panicky is a controller whose every call panics.
type panicky struct{ *fakeCtrl }

func (panicky) Step(context.Context, string) error { panic("boom") }

func TestControllerPanicDoesNotCrash(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m.ctrl = panicky{f}
	m, _ = press(t, m, "enter")
	if !m.statusErr || !strings.Contains(m.status, "panic: boom") || m.busy != 0 {
		t.Fatalf("status = %q busy=%d", m.status, m.busy)
	}
}

func TestEventsClosed(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m = update(t, m, eventsClosedMsg{})
	wantScreen(t, m, "events ended")
	ch := make(chan pipeline.Event)
	close(ch)
	if msg := waitForEvent(ch)(); msg != (eventsClosedMsg{}) {
		t.Fatalf("closed channel gave %T", msg)
	}
}

func TestThousandTenantsKeepSelectionVisible(t *testing.T) {
	ts := manyTenants(1000)
	clk := &testClock{t: t0}
	f := newFake(ts, clk.now, nil)
	m := New(Options{Control: f, Tenants: ts, Broker: testBroker, Now: clk.now})
	m = update(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	for range 25 {
		m = update(t, m, keyPress("down"))
	}
	wantScreen(t, m, "▶ t0025", "–26 of 1,000")
	for range 25 {
		m = update(t, m, keyPress("up"))
	}
	wantScreen(t, m, "▶ t0000", "1–")
	m.tp.sel = 999
	m.tp.scrollTo(m.tenantRows())
	m.touch(&m.ver.tenants)
	wantScreen(t, m, "▶ t0999", "of 1,000")
}

func manyTenants(n int) []pipeline.Tenant {
	ts := make([]pipeline.Tenant, n)
	kinds := []pipeline.Kind{pipeline.KindHospital, pipeline.KindBank, pipeline.KindRetail}
	for i := range ts {
		ts[i] = pipeline.Tenant{ID: fmt.Sprintf("t%04d", i), Kind: kinds[i%3]}
	}
	if err := pipeline.NormalizeTenants(ts); err != nil {
		panic(err)
	}
	return ts
}

// TestWordsCarryTheMeaning: without colour (NO_COLOR), verdicts and states
// are still words.
func TestWordsCarryTheMeaning(t *testing.T) {
	m, f, _ := newTestModel(t, 120, 40)
	ev := make(chan pipeline.Event, 256)
	f.events = ev
	m, _ = press(t, m, "enter", "enter", "x", "enter")
	m = feed(t, m, ev)
	s := plain(m)
	for _, re := range []string{`ALLOW`, `DENY`, `BLOCKED`, `ACTIVE`, `✓ create`} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Fatalf("plain screen lacks %s:\n%s", re, s)
		}
	}
}

func TestBackgroundColourPicksTheme(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	dark := m.View().Content
	m = update(t, m, tea.BackgroundColorMsg{Color: color.White})
	light := m.View().Content
	if dark == light {
		t.Fatal("a light background must change the colours")
	}
	if ansi.Strip(dark) != ansi.Strip(light) {
		t.Fatal("the theme must change colours only, not text")
	}
}

// TestStoreDenialIsNotAnError: a step refused by a store shows in the status
// line, while the log keeps it as the DENY decision only, not as an ERROR.
func TestStoreDenialIsNotAnError(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	denied := &pipeline.DeniedError{Access: pipeline.Access{Actor: "hospital", Target: "hospital", Op: pipeline.OpRead,
		Layer: pipeline.LayerStore, Reason: "broker refused the token: token is invalid or expired"}}
	m = update(t, m, stepDoneMsg{tenant: "hospital", err: fmt.Errorf("step: %w", denied)})
	for _, e := range m.log.visible() {
		if e.tag == tagError {
			t.Fatalf("store denial logged as an error: %+v", e)
		}
	}
	wantScreen(t, m, "store denied read analytics")
	m = update(t, m, stepDoneMsg{tenant: "hospital", err: errors.New("broker unreachable at http://127.0.0.1:1")})
	if es := m.log.visible(); len(es) == 0 || es[len(es)-1].tag != tagError {
		t.Fatal("a real failure must be logged as an error")
	}
}

// TestWaitForEventBatches: events already waiting come as one message, in
// order and without duplicates, and a lone event as an eventMsg.
func TestWaitForEventBatches(t *testing.T) {
	ch := make(chan pipeline.Event, 8)
	ch <- pipeline.Event{Seq: 1}
	if msg, ok := waitForEvent(ch)().(eventMsg); !ok || msg.Seq != 1 {
		t.Fatalf("lone event: %#v", msg)
	}
	for i := int64(1); i <= 3; i++ {
		ch <- pipeline.Event{Seq: i}
	}
	close(ch)
	b, ok := waitForEvent(ch)().(eventBatchMsg)
	if !ok || len(b) != 3 || b[0].Seq != 1 || b[1].Seq != 2 || b[2].Seq != 3 {
		t.Fatalf("batch: %#v", b)
	}
	if _, ok := waitForEvent(ch)().(eventsClosedMsg); !ok {
		t.Fatal("close not seen after the batch")
	}
	m, _, _ := newTestModel(t, 100, 30)
	n := len(m.log.visible())
	m = update(t, m, eventBatchMsg{{Kind: pipeline.EventInfo, Message: "a"}, {Kind: pipeline.EventInfo, Message: "b"}})
	if es := m.log.visible(); len(es) != n+2 || es[len(es)-2].text != "a" || es[len(es)-1].text != "b" {
		t.Fatalf("log after a batch: %+v", es[n:])
	}
}
