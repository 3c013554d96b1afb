package agentwrit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/fakeclock"
)

// testSigningKey is a fixed broker key for tokens minted by stubs.
var testSigningKey = func() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("agentwrit test broker key"))
	return ed25519.NewKeyFromSeed(seed[:])
}()

// mintJWT returns a compact EdDSA JWS over claims, laid out like the
// broker's (§3). claims may be a Claims or any JSON-marshalable value.
func mintJWT(t testing.TB, claims any) string {
	t.Helper()
	header := `{"alg":"EdDSA","typ":"JWT","kid":"WDxQwR4x0I81agJY6vALL2229XAlyMZMtgh-vGVN_ZI"}`
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload)
	return signing + "." + enc.EncodeToString(ed25519.Sign(testSigningKey, []byte(signing)))
}

// writeProblem writes an application/problem+json reply like the broker's.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, code, detail string) {
	id := r.Header.Get("X-Request-ID")
	if id == "" {
		id = "0123456789abcdef"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Request-ID", id)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":       "urn:agentwrit:error:" + code,
		"title":      http.StatusText(status),
		"status":     status,
		"detail":     detail,
		"instance":   r.URL.Path,
		"error_code": code,
		"request_id": id,
	})
}

// writeJSON writes a JSON success reply.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newFakeClock is a manually advanced clock for session-expiry and
// Retry-After tests (pass it with withClock).
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC))
}

// driveClock runs f and, each time the client waits on clock while f runs,
// advances clock by step. It returns the number of advances once f returns.
func driveClock(t *testing.T, clock *fakeclock.Clock, step time.Duration, f func()) (advances int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		f()
	}()
	for ctx.Err() == nil && clock.BlockUntilWaiters(ctx, 1) == nil {
		clock.Advance(step)
		advances++
	}
	<-done
	return advances
}

// notes collects notify messages.
type notes struct {
	mu   sync.Mutex
	msgs []string
	ch   chan string
}

func newNotes() *notes { return &notes{ch: make(chan string, 100)} }

func (n *notes) add(msg string) {
	n.mu.Lock()
	n.msgs = append(n.msgs, msg)
	n.mu.Unlock()
	select {
	case n.ch <- msg:
	default:
	}
}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

func (n *notes) String() string { return fmt.Sprintf("%q", n.all()) }
