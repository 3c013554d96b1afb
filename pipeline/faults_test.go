package pipeline

import (
	"database/sql/driver"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantui/tenantui/agentwrit"
)

func TestUnwritableReportsDir(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	// A file where the tenant's report directory should be: the write fails
	// even for root, who ignores permission bits.
	if err := os.WriteFile(filepath.Join(e.reports, "hospital"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.RunTenant(ctx, "hospital")
	if err == nil || !strings.Contains(err.Error(), "write report") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("multi-line error %q", err)
	}
	st := r.Snapshot()[0]
	if st.Agent.State != AgentReleased || st.Report != "" {
		t.Fatalf("after failure: state %v report %q", st.Agent.State, st.Report)
	}
	if r.LiveAgents() != 0 {
		t.Fatal("agent not released after failure")
	}
}

func TestCorruptDataFile(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	path := filepath.Join(e.data, "bank.db")
	if err := os.WriteFile(path, []byte("this is not a database, just garbage bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.RunTenant(ctx, "bank")
	var de *DataError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "delete it to regenerate") {
		t.Fatalf("err = %v", err)
	}
	if r.LiveAgents() != 0 {
		t.Fatal("agent not released after failure")
	}
	// Deleting the file regenerates it.
	os.Remove(path)
	if err := r.RunTenant(ctx, "bank"); err != nil {
		t.Fatal(err)
	}
}

func TestBrokerDiesMidRun(t *testing.T) {
	e := newEnv(t)
	r := e.runner(t, nil)
	if err := r.Step(ctx, "retail"); err != nil {
		t.Fatal(err)
	}
	e.http.CloseClientConnections()
	e.http.Close()
	err := r.RunTenant(ctx, "retail")
	var te *agentwrit.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T)", err, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("multi-line error %q", err)
	}
	if _, statErr := os.Stat(filepath.Join(e.reports, "retail", "latest.json")); !os.IsNotExist(statErr) {
		t.Fatal("a report was written without a validated token")
	}
}

func TestDataRegeneratedWhenSizeChanges(t *testing.T) {
	e := newEnv(t)
	tn := DefaultTenants()[2]
	s, err := OpenStore(ctx, tn, StoreConfig{DataDir: e.data, ReportsDir: e.reports, Seed: 1, Rows: 150, Validator: e.app})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenStore(ctx, tn, StoreConfig{DataDir: e.data, ReportsDir: e.reports, Seed: 1, Rows: 300, Validator: e.app})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int64
	if err := s.db.query(ctx, `SELECT count(*) FROM orders`, 1, func(v []driver.Value) (err error) { n, err = asInt(v[0]); return err }); err != nil || n != 300 {
		t.Fatalf("rows %d %v", n, err)
	}
}
