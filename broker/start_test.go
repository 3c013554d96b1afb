package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Start gives the http.Server the real broker's timeouts.
func TestStartTimeouts(t *testing.T) {
	s, err := New(Config{AdminSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	run, err := Start(t.Context(), s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	got := serverTimeouts{run.srv.ReadHeaderTimeout, run.srv.ReadTimeout, run.srv.WriteTimeout, run.srv.IdleTimeout}
	want := serverTimeouts{5 * time.Second, 15 * time.Second, 30 * time.Second, 120 * time.Second}
	if got != want {
		t.Fatalf("timeouts %+v, want %+v", got, want)
	}
}

// A body trickling in, or stalled, is cut off by the read timeout, and an
// idle keep-alive connection by the idle timeout. The timeouts are short
// here; the client waits far longer, so only a missing timeout fails.
func TestServerCutsOffSlowClients(t *testing.T) {
	s, err := New(Config{AdminSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	short := serverTimeouts{readHeader: 100 * time.Millisecond, read: 200 * time.Millisecond,
		write: time.Second, idle: 200 * time.Millisecond}
	run, err := start(t.Context(), s, "127.0.0.1:0", short)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	const patience = 10 * time.Second
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", run.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.SetReadDeadline(time.Now().Add(patience)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// ended fails unless the server answered or closed the connection.
	ended := func(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
		t.Helper()
		res, err := http.ReadResponse(br, nil)
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server still holds the connection after %s", patience)
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			var oe *net.OpError
			if !errors.As(err, &oe) { // a reset is fine too
				t.Fatal(err)
			}
		}
		return res
	}

	t.Run("stalled body", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "POST /v1/admin/auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{\"secret\":\"")
		if res := ended(t, c, bufio.NewReader(c)); res != nil {
			res.Body.Close()
			if res.StatusCode != 400 {
				t.Fatalf("status %d, want 400 (body unreadable)", res.StatusCode)
			}
		}
	})
	t.Run("trickled body", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "POST /v1/token/validate HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { // one byte every 20 ms, until the server gives up
			for ctx.Err() == nil {
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		if res := ended(t, c, bufio.NewReader(c)); res != nil {
			res.Body.Close()
			if res.StatusCode != 400 {
				t.Fatalf("status %d, want 400 (body unreadable)", res.StatusCode)
			}
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t)
		br := bufio.NewReader(c)
		fmt.Fprintf(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
		res := ended(t, c, br)
		if res == nil || res.StatusCode != 200 {
			t.Fatalf("health: %v", res)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res := ended(t, c, br); res != nil { // then nothing: the server closes
			t.Fatalf("unexpected second response %d", res.StatusCode)
		}
	})
}
