package pipeline

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Seed sizes of the sample (data_pipeline.py's MOCK_DATA).
const (
	SeedHospitalVisits         = 12847
	SeedBankTransactions       = 2_400_000
	SeedRetailOrders           = 847_000
	DefaultScale               = 0.01
	DefaultSeed          int64 = 42
)

// Row is one generated record. Its meaning depends on the tenant's kind:
//
//	hospital: A = length of stay (days), Flag = readmitted
//	bank:     A = amount ($), B = balance after ($), Flag = fraud
//	retail:   A = order amount ($), Flag = returned
type Row struct {
	A, B float64
	Flag bool
}

// kindSpec is how a kind is stored and summarised.
type kindSpec struct {
	table   string
	cols    [3]string // A, B, Flag column names
	noun    string    // "visits"
	metrics []string  // metric names, in display order
}

var kinds = map[Kind]kindSpec{
	KindHospital: {"visits", [3]string{"length_of_stay", "age", "readmitted"}, "patient visits",
		[]string{"patient_visits", "avg_stay", "readmit_rate"}},
	KindBank: {"transactions", [3]string{"amount", "balance", "fraud"}, "transactions",
		[]string{"transactions", "avg_balance", "fraud_rate"}},
	KindRetail: {"orders", [3]string{"amount", "items", "returned"}, "orders",
		[]string{"orders", "avg_order", "return_rate"}},
}

// DefaultRows is the number of rows a tenant of kind k gets at scale s: the
// hospital always has the seed's 12,847 visits; the bank and the retailer have
// s × the seed's 2.4M transactions and 847K orders (at least 100).
func DefaultRows(k Kind, s float64) int {
	if s <= 0 {
		s = DefaultScale
	}
	s = math.Min(s, 1)
	switch k {
	case KindHospital:
		return SeedHospitalVisits
	case KindBank:
		return max(100, int(math.Round(SeedBankTransactions*s)))
	default:
		return max(100, int(math.Round(SeedRetailOrders*s)))
	}
}

// generate produces n deterministic rows for a tenant: the same seed, tenant
// and n always give the same rows. The distributions are centred on the
// sample's figures (3.2 days, 4.1 %; $8,420, 0.02 %; $67.30, 8.4 %).
func generate(k Kind, tenantID string, seed int64, n int, yield func(Row) error) error {
	h := fnv.New64a()
	h.Write([]byte(tenantID))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	for range n {
		var r Row
		switch k {
		case KindHospital:
			r.A = math.Round((1+rng.ExpFloat64()*2.2)*10) / 10
			r.B = float64(18 + rng.IntN(75))
			r.Flag = rng.Float64() < 0.041
		case KindBank:
			r.A = math.Round(rng.ExpFloat64()*180*100) / 100
			r.B = math.Round(8420*(0.05+1.9*rng.Float64())*100) / 100
			r.Flag = rng.Float64() < 0.0002
		default:
			r.A = math.Round(67.30*(0.25+1.5*rng.Float64())*100) / 100
			r.B = float64(1 + rng.IntN(6))
			r.Flag = rng.Float64() < 0.084
		}
		if err := yield(r); err != nil {
			return err
		}
	}
	return nil
}

// Transform computes a tenant's metrics from its rows.
func Transform(k Kind, rows []Row) *Metrics {
	spec := kinds[k]
	n := len(rows)
	var sumA, sumB float64
	flags := 0
	for _, r := range rows {
		sumA += r.A
		sumB += r.B
		if r.Flag {
			flags++
		}
	}
	avg := func(x float64) float64 {
		if n == 0 {
			return 0
		}
		return x / float64(n)
	}
	rate := avg(float64(flags)) * 100
	m := &Metrics{Names: spec.metrics, Values: map[string]string{}, Raw: map[string]float64{}}
	set := func(name string, raw float64, s string) { m.Raw[name], m.Values[name] = raw, s }
	set(spec.metrics[0], float64(n), GroupThousands(int64(n)))
	switch k {
	case KindHospital:
		set("avg_stay", avg(sumA), fmt.Sprintf("%.1f days", avg(sumA)))
		set("readmit_rate", rate, fmt.Sprintf("%.1f%%", rate))
	case KindBank:
		set("avg_balance", avg(sumB), "$"+GroupThousands(int64(math.Round(avg(sumB)))))
		set("fraud_rate", rate, fmt.Sprintf("%.2f%%", rate))
	default:
		set("avg_order", avg(sumA), fmt.Sprintf("$%.2f", avg(sumA)))
		set("return_rate", rate, fmt.Sprintf("%.1f%%", rate))
	}
	return m
}

// String renders metrics as the seed prints its dicts: {'k': 'v', …}.
func (m *Metrics) String() string {
	if m == nil {
		return "{}"
	}
	parts := make([]string, 0, len(m.Names))
	for _, k := range m.Names {
		parts = append(parts, fmt.Sprintf("'%s': '%s'", k, m.Values[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// GroupThousands writes n with a comma between groups of three digits:
// 12847 is "12,847", -1234 is "-1,234".
func GroupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
