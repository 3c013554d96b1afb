package tour

import "testing"

func TestBuiltin(t *testing.T) {
	ls, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 9 {
		t.Fatalf("%d built-in lessons, want 9", len(ls))
	}
	for _, l := range ls {
		if err := l.CheckTenants([]string{"hospital", "bank", "retail"}); err != nil {
			t.Error(err)
		}
		t.Logf("%s: %q, %d keys, %d conditions", l.File, l.Title, len(l.Keys), len(l.Expect))
	}
}
