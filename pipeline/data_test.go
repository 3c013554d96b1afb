package pipeline

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func rowsOf(k Kind, id string, seed int64, n int) []Row {
	var out []Row
	generate(k, id, seed, n, func(r Row) error { out = append(out, r); return nil })
	return out
}

func TestGeneratorDeterministic(t *testing.T) {
	a := rowsOf(KindBank, "bank", 42, 500)
	b := rowsOf(KindBank, "bank", 42, 500)
	c := rowsOf(KindBank, "bank", 43, 500)
	d := rowsOf(KindBank, "bank2", 42, 500)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) || reflect.DeepEqual(a, d) {
		t.Fatal("generator is not a function of (seed, tenant)")
	}
}

func TestMetricsNearSample(t *testing.T) {
	cases := []struct {
		k      Kind
		n      int
		metric string
		want   float64
		tol    float64
	}{
		{KindHospital, SeedHospitalVisits, "avg_stay", 3.2, 0.1},
		{KindHospital, SeedHospitalVisits, "readmit_rate", 4.1, 0.5},
		{KindBank, 200000, "avg_balance", 8420, 100},
		{KindBank, 200000, "fraud_rate", 0.02, 0.015},
		{KindRetail, 50000, "avg_order", 67.30, 1},
		{KindRetail, 50000, "return_rate", 8.4, 0.5},
	}
	for _, c := range cases {
		m := Transform(c.k, rowsOf(c.k, string(c.k), 42, c.n))
		if got := m.Raw[c.metric]; math.Abs(got-c.want) > c.tol {
			t.Errorf("%s %s = %.4f, want %.4f ± %.4f", c.k, c.metric, got, c.want, c.tol)
		}
		if m.Values[m.Names[0]] != GroupThousands(int64(c.n)) {
			t.Errorf("%s count %q", c.k, m.Values[m.Names[0]])
		}
	}
	if s := Transform(KindHospital, rowsOf(KindHospital, "h", 1, 12847)).String(); !strings.HasPrefix(s, "{'patient_visits': '12,847', 'avg_stay': '") {
		t.Errorf("String() = %s", s)
	}
}

func TestDefaultRows(t *testing.T) {
	if DefaultRows(KindHospital, 0.01) != 12847 || DefaultRows(KindBank, 0.01) != 24000 ||
		DefaultRows(KindRetail, 0.01) != 8470 || DefaultRows(KindBank, 1) != 2_400_000 || DefaultRows(KindRetail, 1) != 847_000 {
		t.Fatal("default sizes")
	}
}

func TestCatalog(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.json")
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	good := write(`{"tenants":[{"id":"clinic-7","name":"Clinic 7","kind":"hospital","rows":300},{"id":"shop","kind":"retail"}]}`)
	ts, err := LoadTenants(good)
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].ReadScope != "read:analytics:clinic-7" || ts[1].WriteScope != "write:reports:shop" || ts[1].Name != "shop" || ts[0].DataType != "patient analytics" {
		t.Fatalf("%+v", ts)
	}
	bad := map[string]string{
		`{"tenants":[{"id":"a"},{"id":"a"}]}`:                      `tenant #2 ("a"): duplicate id (also tenant #1)`,
		`{"tenants":[{"id":"a","read_scope":"read:analytics:b"}]}`: `identifier must be the tenant id "a"`,
		`{"tenants":[{"id":"a","write_scope":"write:reports"}]}`:   `write_scope: invalid scope "write:reports"`,
		`{"tenants":[{"id":"a","read_scope":"read:billing:a"}]}`:   `must be read:analytics:a`,
		`{"tenants":[{"id":"Bad Id"}]}`:                            `id must be`,
		`{"tenants":[{"id":"a","kind":"farm"}]}`:                   `unknown kind "farm"`,
		`{"tenants":[]}`:                                           `no tenants`,
		`{"tenants":[{"id":"a","colour":"red"}]}`:                  `unknown field "colour"`,
		`not json`:                           `not a tenant catalog`,
		`{"tenants":[{"id":"a","rows":-1}]}`: `rows must not be negative`,
		`{"tenants":[{"id":"ok"},{"id":"x","read_scope":"read::x"}]}`:             `tenant #2 ("x"): read_scope: invalid scope "read::x": resource is empty`,
		`{"tenants":[{"id":"a","read_scope":"read:analytics:a:b"}]}`:              `identifier must be the tenant id`,
		`{"tenants":[{"id":"a","kind":"bank","write_scope":"write:reports:*"}]}`:  `identifier must be the tenant id`,
		`{"tenants":[{"id":"a","kind":"bank","write_scope":"Write:reports:a"}]}`:  `must be write:reports:a`,
		`{"tenants":[{"id":"a","kind":"bank","read_scope":"read:analytics:a "}]}`: `identifier must be the tenant id`,
		`{"tenants":[{"id":"-a"}]}`:                                               `id must be`,
	}
	for in, want := range bad {
		_, err := LoadTenants(write(in))
		var ce *CatalogError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), filepath.Join(dir, "c.json")) {
			t.Errorf("%s: err = %v, want ~%q", in, err, want)
		}
	}
	if _, err := LoadTenants(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// GroupThousands groups digits in threes, with the sign outside the groups.
func TestGroupThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 123: "123", 1234: "1,234", 12847: "12,847",
		1000000: "1,000,000", -123: "-123", -1234: "-1,234", -123456: "-123,456"} {
		if got := GroupThousands(n); got != want {
			t.Errorf("GroupThousands(%d) = %q, want %q", n, got, want)
		}
	}
}
