package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// standaloneBroker runs `tenantui broker` with args on a free loopback port
// until the test ends, and returns its URL.
func standaloneBroker(t *testing.T, args ...string) string {
	t.Helper()
	t.Setenv("AA_ADMIN_SECRET", "trust-proxy-test-secret")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cmdBroker(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("broker stop: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("broker did not stop on cancel")
		}
	})
	sc := bufio.NewScanner(pr)
	url := ""
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "# AgentWrit-compatible broker (tenantui) listening on "); ok {
			url, _, _ = strings.Cut(u, " ") // "http://127.0.0.1:PORT (mode)"
		}
		if strings.HasPrefix(sc.Text(), "# Ctrl+C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		t.Fatal("no listening line")
	}
	return url
}

// The standalone broker ignores X-Forwarded-For unless --trust-proxy is
// given: a client rotating the header is limited by its own address.
func TestStandaloneBrokerTrustProxy(t *testing.T) {
	clearEnv(t)
	statuses := func(url string) []int {
		var got []int
		for i := range 11 {
			req, _ := http.NewRequest("POST", url+"/v1/admin/auth", strings.NewReader(`{}`))
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got = append(got, res.StatusCode)
		}
		return got
	}
	if got := statuses(standaloneBroker(t)); got[10] != 429 {
		t.Fatalf("without --trust-proxy: statuses %v, want the 11th limited (429)", got)
	}
	for i, code := range statuses(standaloneBroker(t, "--trust-proxy")) {
		if code != 400 {
			t.Fatalf("with --trust-proxy: request %d got %d, want 400 (one bucket per forwarded address)", i, code)
		}
	}
}
