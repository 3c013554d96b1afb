package watch

import (
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// byTask returns the agents of a task, in order of appearance.
func byTask(b *Book, task string) []Agent {
	var out []Agent
	for _, a := range b.Agents() {
		if a.Task == task {
			out = append(out, a)
		}
	}
	return out
}

func one(t *testing.T, b *Book, task string) Agent {
	t.Helper()
	as := byTask(b, task)
	if len(as) != 1 {
		t.Fatalf("task %s: %d agents, want 1", task, len(as))
	}
	return as[0]
}

// lastEventTime is the time of the last event: "now" just after the trail.
func lastEventTime(t *testing.T, evs []agentwrit.AuditEvent) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, evs[len(evs)-1].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestFoldStories folds the scenario's trail, recorded from a real broker
// and produced by the embedded one, and checks every story.
func TestFoldStories(t *testing.T) {
	embedded, _ := embeddedTrail(t)
	for name, evs := range map[string][]agentwrit.AuditEvent{
		"real broker": loadTrail(t, realTrail),
		"embedded":    embedded,
	} {
		t.Run(name, func(t *testing.T) {
			b := NewBook()
			changes := b.Apply(evs)
			now := lastEventTime(t, evs)
			checkStories(t, b, now)
			if b.Events() != len(evs) {
				t.Errorf("events folded %d, want %d", b.Events(), len(evs))
			}
			// Every agent announced "registered" once, except the one dead on
			// arrival (registered under a revoked task): it starts "revoked".
			kinds := map[string]int{}
			for _, c := range changes {
				kinds[c.Kind]++
			}
			if kinds["registered"] != 10 || kinds["renewed"] != 2 || kinds["released"] != 2 || kinds["delegated"] != 2 {
				t.Errorf("changes by kind %v: want 10 registered, 2 renewed, 2 released, 2 delegated", kinds)
			}
			if kinds["revoked"] != 5 { // token, agent, task ×2, plus the late task registration
				t.Errorf("revoked changes %d, want 5 (%v)", kinds["revoked"], kinds)
			}
		})
	}
}

func checkStories(t *testing.T, b *Book, now time.Time) {
	t.Helper()
	hospital := []string{"read:analytics:hospital", "write:reports:hospital"}

	// create → release
	a := one(t, b, "release")
	if got := a.StateAt(now); got != StateReleased {
		t.Errorf("release: state %s, want released", got)
	}
	if a.Orch != "watch-test" || a.Tenant != "hospital" || strings.Join(a.Scope, " ") != strings.Join(hospital, " ") {
		t.Errorf("release: orch %q tenant %q scope %v", a.Orch, a.Tenant, a.Scope)
	}
	if !strings.HasPrefix(a.ID, "spiffe://agentwrit.local/agent/watch-test/release/") || len(a.JTI) != 32 {
		t.Errorf("release: id %q jti %q", a.ID, a.JTI)
	}
	if a.TTL != 300*time.Second || !a.Expires.Equal(a.Issued.Truncate(time.Second).Add(300*time.Second)) {
		t.Errorf("release: ttl %v issued %v expires %v", a.TTL, a.Issued, a.Expires)
	}
	if a.ReleasedAt.Before(a.Issued) || a.AppID == "" {
		t.Errorf("release: released at %v, issued %v, app %q", a.ReleasedAt, a.Issued, a.AppID)
	}

	// renew ×2 then release: the jti is the last renewal's and the release hit it
	a = one(t, b, "renew")
	if a.Renewals != 2 || a.StateAt(now) != StateReleased || a.Tenant != "bank" {
		t.Errorf("renew: renewals %d state %s tenant %s", a.Renewals, a.StateAt(now), a.Tenant)
	}
	var lastRenew agentwrit.AuditEvent
	for _, e := range a.Events {
		if e.EventType == "token_renewed" {
			lastRenew = e
		}
	}
	if !strings.HasSuffix(lastRenew.Detail, "new_jti="+a.JTI) {
		t.Errorf("renew: current jti %s is not the last renewal's (%s)", a.JTI, lastRenew.Detail)
	}
	if len(a.Events) != 5 { // registered, issued, renewed ×2, released
		t.Errorf("renew: %d events, want 5", len(a.Events))
	}

	// expiry by the clock: active until its exp second has passed
	a = one(t, b, "expiry")
	if a.TTL != 2*time.Second {
		t.Fatalf("expiry: ttl %v", a.TTL)
	}
	if got := a.StateAt(a.Expires); got != StateActive {
		t.Errorf("expiry: at exp the token still validates (whole seconds), got %s", got)
	}
	if got := a.StateAt(a.Expires.Add(time.Second)); got != StateExpired {
		t.Errorf("expiry: a second after exp, state %s, want expired", got)
	}
	if ch := b.Tick(a.Expires.Add(time.Second)); len(ch) != 1 || ch[0].Kind != "expired" || ch[0].Agent != a.ID {
		t.Errorf("expiry: Tick changes %+v, want one expired for %s", ch, a.ID)
	}
	if ch := b.Tick(a.Expires.Add(5 * time.Second)); len(ch) != 0 {
		t.Errorf("expiry: announced twice: %+v", ch)
	}

	// revocation at token, agent and task level
	for _, c := range []struct{ task, level string }{{"revoke-token", "token"}, {"revoke-agent", "agent"}} {
		a = one(t, b, c.task)
		if a.StateAt(now) != StateRevoked || a.Revoked == nil || a.Revoked.Level != c.level || a.Revoked.By != ByOperator {
			t.Errorf("%s: state %s revoked %+v", c.task, a.StateAt(now), a.Revoked)
		}
	}
	if a.Revoked.Target != a.ID {
		t.Errorf("revoke-agent: target %q, want %s", a.Revoked.Target, a.ID)
	}
	task := byTask(b, "revoke-task")
	if len(task) != 3 {
		t.Fatalf("revoke-task: %d agents, want 3", len(task))
	}
	for i, a := range task {
		if a.StateAt(now) != StateRevoked || a.Revoked.Level != "task" || a.Revoked.Target != "revoke-task" {
			t.Errorf("revoke-task #%d: state %s revoked %+v", i, a.StateAt(now), a.Revoked)
		}
	}
	if !task[2].Revoked.At.Equal(task[2].Issued) {
		t.Errorf("revoke-task: the later registration should be dead on arrival: revoked %v issued %v", task[2].Revoked.At, task[2].Issued)
	}

	// delegation root → mid → leaf, then chain revocation of root
	root, mid, leaf := one(t, b, "deleg-root"), one(t, b, "deleg-mid"), one(t, b, "deleg-leaf")
	if len(root.Given) != 1 || len(mid.Received) != 1 || len(mid.Given) != 1 || len(leaf.Received) != 1 {
		t.Fatalf("delegation: root gave %d, mid got %d gave %d, leaf got %d", len(root.Given), len(mid.Received), len(mid.Given), len(leaf.Received))
	}
	d1, d2 := mid.Received[0], leaf.Received[0]
	if d1.From != root.ID || d1.Depth != 1 || strings.Join(d1.Scope, " ") != "read:analytics:hospital" || len(d1.ChainHash) != 64 {
		t.Errorf("root → mid: %+v", d1)
	}
	if d2.From != mid.ID || d2.Depth != 2 || len(d2.Chain) != 2 || d2.Chain[0] != root.ID || d2.Chain[1] != mid.ID {
		t.Errorf("mid → leaf: from %s depth %d chain %v", d2.From, d2.Depth, d2.Chain)
	}
	if d2.Task != "deleg-root" {
		t.Errorf("mid → leaf carries the root's task (mid used root's delegated token): %q", d2.Task)
	}
	for _, d := range []Delegation{d1, d2} {
		if d.Revoked == nil || d.Revoked.Level != "chain" || d.Revoked.Target != root.ID {
			t.Errorf("delegation to %s: revoked %+v, want chain revocation of root", d.To, d.Revoked)
		}
	}
	for _, a := range []Agent{root, mid, leaf} {
		if a.StateAt(now) != StateActive {
			t.Errorf("%s: chain revocation spares the agents' own tokens (§7), state %s", a.Task, a.StateAt(now))
		}
	}
}

// TestFoldIncremental: folding in pieces gives the stories of one fold.
func TestFoldIncremental(t *testing.T) {
	evs := loadTrail(t, realTrail)
	whole := NewBook()
	whole.Apply(evs)
	parts := NewBook()
	var kinds []string
	for i := 0; i < len(evs); i += 7 {
		for _, c := range parts.Apply(evs[i:min(i+7, len(evs))]) {
			kinds = append(kinds, c.Kind)
		}
	}
	now := lastEventTime(t, evs)
	wa, pa := whole.Agents(), parts.Agents()
	if len(wa) != len(pa) {
		t.Fatalf("%d agents vs %d", len(wa), len(pa))
	}
	for i := range wa {
		if wa[i].ID != pa[i].ID || wa[i].StateAt(now) != pa[i].StateAt(now) || wa[i].JTI != pa[i].JTI || len(wa[i].Events) != len(pa[i].Events) {
			t.Errorf("agent %d differs: %s %s vs %s %s", i, wa[i].ID, wa[i].StateAt(now), pa[i].ID, pa[i].StateAt(now))
		}
	}
	if len(kinds) == 0 {
		t.Error("no changes")
	}
}

// TestSnapshotIsolated: a copy handed out never sees the book's later writes.
func TestSnapshotIsolated(t *testing.T) {
	evs := loadTrail(t, realTrail)
	b := NewBook()
	b.Apply(evs[:10])
	snap := b.Agents()
	n := len(snap[1].Events)
	b.Apply(evs[10:])
	if len(snap[1].Events) != n {
		t.Fatalf("snapshot grew from %d to %d events", n, len(snap[1].Events))
	}
	if got := b.TakeDirty(); len(got) == 0 {
		t.Fatal("no dirty agents after applying events")
	}
	if got := b.TakeDirty(); got != nil {
		t.Fatalf("dirty twice: %d", len(got))
	}
}

func TestTenantOf(t *testing.T) {
	for _, c := range []struct {
		scopes []string
		task   string
		want   string
	}{
		{[]string{"read:analytics:bank", "write:reports:bank"}, "t", "bank"},
		{[]string{"read:analytics:bank", "write:reports:retail"}, "etl-mixed", "etl-mixed"},
		{[]string{"read:analytics:*"}, "wild", "wild"},
		{[]string{"read:data:a:b"}, "t", "a:b"},
		{nil, "", "(no task)"},
	} {
		if got := tenantOf(c.scopes, c.task); got != c.want {
			t.Errorf("tenantOf(%v, %q) = %q, want %q", c.scopes, c.task, got, c.want)
		}
	}
}
