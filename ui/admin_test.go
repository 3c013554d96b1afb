package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
)

// TestAdminRejectedShown: a broker that refused the admin secret at start is
// said in the header, at every width, and in the first status line.
func TestAdminRejectedShown(t *testing.T) {
	for _, w := range []int{80, 100, 120} {
		clk := &testClock{t: t0}
		f := newFake(pipeline.DefaultTenants(), clk.now, nil)
		b := BrokerInfo{URL: "https://broker.example.com:8443", Mode: "external", Version: "2.0.0", Healthy: true,
			ClientID: "sa-a0f2d0…", AdminRejected: true}
		m := New(Options{Control: f, Tenants: pipeline.DefaultTenants(), Broker: b, TTL: 5 * time.Minute, Now: clk.now})
		m = update(t, m, tea.WindowSizeMsg{Width: w, Height: 24})
		m = update(t, m, snapshotMsg{snap: f.Snapshot()})
		m = update(t, m, adminMsg{ok: false, why: adminRejectedText})
		lines := strings.Split(plain(m), "\n")
		if !strings.Contains(lines[0], "✗ admin rejected") {
			t.Errorf("width %d: header %q lacks the rejection", w, lines[0])
		}
		if !strings.Contains(plain(m), "admin secret rejected: revoke and audit disabled") {
			t.Errorf("width %d: no status line says revoke and audit are disabled:\n%s", w, plain(m))
		}
	}
	m, _, _ := newTestModel(t, 100, 30)
	if strings.Contains(plain(m), "admin secret rejected") {
		t.Error("the rejection is shown for a broker that accepted the secret")
	}
}
