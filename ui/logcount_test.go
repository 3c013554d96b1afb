package ui

import (
	"strings"
	"testing"
)

// Once the log drops old entries its title says how many it keeps of how
// many there were.
func TestLogTitleShowsCap(t *testing.T) {
	var l logPane
	for range 3 {
		l.add(logEntry{text: "x"})
	}
	if got := l.countNote(); got != "3 events" {
		t.Fatalf("3 entries: %q", got)
	}
	for range 12345 - 3 {
		l.add(logEntry{text: "x"})
	}
	if got := l.countNote(); got != "last 5,000 of 12,345" {
		t.Fatalf("12,345 entries: %q", got)
	}
	if box := strings.Join(l.view(80, 6, NewStyles(true)), "\n"); !strings.Contains(box, "last 5,000 of 12,345") {
		t.Fatalf("title not shown:\n%s", box)
	}
}
