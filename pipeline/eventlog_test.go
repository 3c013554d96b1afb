package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Events written from many goroutines all reach the file, one valid JSON
// object a line; nothing is written after Close.
func TestEventLogConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l, err := CreateEventLog(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				l.Write(Event{Seq: int64(g*500 + i + 1), Kind: EventInfo, Tenant: "t", Message: strings.Repeat("x", i%40)})
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Write(Event{Seq: 99999, Kind: EventInfo})
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 4000 || l.Count() != 4000 {
		t.Fatalf("%d lines, count %d; want 4000", len(lines), l.Count())
	}
	seen := map[int64]bool{}
	for _, line := range lines {
		var v struct {
			Seq  int64  `json:"seq"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Kind != "info" {
			t.Fatalf("line %q: %v", line, err)
		}
		seen[v.Seq] = true
	}
	if len(seen) != 4000 || seen[99999] {
		t.Fatalf("%d distinct events (or one written after Close)", len(seen))
	}
}
