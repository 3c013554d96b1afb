package pipeline

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// A report is written exactly as json.MarshalIndent writes it, whatever
// its strings, numbers and maps.
func TestReportJSONAsMarshalIndent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "hospital", "St. Mary's Hospital", "a<b>&c", `quote"d`, `back\slash`, "caf\u00e9", "tab\there",
		"line\nbreak", "bad\xffutf8", "\u2028", "spiffe://agentwrit.local/agent/etl/t0001/abc", "2026-12-02T02:00:00Z"}
	floats := []float64{0, -0.0, 1, -1, 0.5, 1e-6, 9.99e-7, 1e-7, 123456.789, 1e20, 1e21, 1.5e300, -2.5e-10, 42, math.MaxFloat64, math.SmallestNonzeroFloat64}
	pick := func() string { return strs[rng.IntN(len(strs))] }
	check := func(r Report) {
		t.Helper()
		want, werr := json.MarshalIndent(r, "", "  ")
		got, gerr := r.indentJSON()
		if (werr != nil) != (gerr != nil) || string(got) != string(want) {
			t.Fatalf("report %+v\ngot  %s (%v)\nwant %s (%v)", r, got, gerr, want, werr)
		}
	}
	check(Report{})
	check(Report{Metrics: map[string]string{}, MetricsRaw: map[string]float64{}})
	check(Report{MetricsRaw: map[string]float64{"nan": math.NaN()}})
	check(Report{MetricsRaw: map[string]float64{"inf": math.Inf(1)}})
	for range 2000 {
		r := Report{Tenant: pick(), Name: pick(), DataType: pick(), Rows: rng.IntN(1 << 20), AgentID: pick(), TaskID: pick(), GeneratedAt: pick(),
			Metrics: map[string]string{}, MetricsRaw: map[string]float64{}}
		for range rng.IntN(5) {
			r.Metrics[pick()] = pick()
			f := floats[rng.IntN(len(floats))]
			if rng.IntN(2) == 0 {
				f = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
			}
			r.MetricsRaw[pick()] = f
		}
		check(r)
	}
	// The runner's own reports take the fast path.
	r := Report{Tenant: "t0001", Name: "Tenant 1", DataType: "patient_records", Rows: 200, AgentID: "spiffe://agentwrit.local/agent/o/t/x",
		TaskID: "etl-t0001", GeneratedAt: "2026-12-02T02:00:00Z", Metrics: map[string]string{"avg": "1.5"}, MetricsRaw: map[string]float64{"avg": 1.5}}
	if _, ok := r.appendIndented(nil); !ok {
		t.Fatal("a runner's report is left to encoding/json")
	}
	check(r)
}
