package ui

import (
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
)

// Benchmarks: go test -run x -bench . -benchmem ./ui/
//
// "cold" re-renders every pane (as after a state change), "tick" is the
// View after a 1 Hz tick, when only the header clock and the countdown
// change and every other pane comes from the cache.

func benchModel(b *testing.B, ts []pipeline.Tenant, w, h int) (Model, *testClock) {
	b.Helper()
	clk := &testClock{t: t0}
	f := newFake(ts, clk.now, nil)
	m := New(Options{Control: f, Tenants: ts, Broker: testBroker, Now: clk.now})
	m = update(b, m, tea.WindowSizeMsg{Width: w, Height: h})
	for _, k := range []string{"enter", "enter", "enter", "enter", "x", "enter"} {
		m, _ = press(b, m, k)
	}
	for i := range 200 { // a full log
		m = update(b, m, eventMsg(pipeline.Event{Time: t0, Kind: pipeline.EventDecision, Tenant: "x",
			Access: &pipeline.Access{Actor: ts[i%len(ts)].ID, Target: ts[(i+1)%len(ts)].ID, Layer: pipeline.LayerStore}}))
	}
	return m, clk
}

func benchView(b *testing.B, ts []pipeline.Tenant, w, h int, cold bool) {
	m, clk := benchModel(b, ts, w, h)
	_ = m.View()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if cold {
			m.touchAll()
		} else {
			clk.t = clk.t.Add(time.Second)
			nm, _ := m.Update(tickMsg{gen: m.gen})
			m = nm.(Model)
		}
		_ = m.View()
	}
}

func BenchmarkView3TenantsCold(b *testing.B)    { benchView(b, pipeline.DefaultTenants(), 120, 40, true) }
func BenchmarkView1000TenantsCold(b *testing.B) { benchView(b, manyTenants(1000), 120, 40, true) }
func BenchmarkViewTick3Tenants(b *testing.B)    { benchView(b, pipeline.DefaultTenants(), 120, 40, false) }
func BenchmarkViewTick1000Tenants(b *testing.B) { benchView(b, manyTenants(1000), 120, 40, false) }
func BenchmarkView3TenantsCold100(b *testing.B) {
	benchView(b, pipeline.DefaultTenants(), 100, 30, true)
}
func BenchmarkViewTick1000Tenants100(b *testing.B) { benchView(b, manyTenants(1000), 100, 30, false) }
