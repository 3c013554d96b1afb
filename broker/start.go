package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownGrace bounds a graceful shutdown: requests to an in-process broker
// take milliseconds, and connections that were opened but never used (which
// net/http leaves alone for 5 s) must not hold up the exit.
const shutdownGrace = time.Second

// serverTimeouts are an http.Server's connection deadlines.
type serverTimeouts struct {
	readHeader, read, write, idle time.Duration
}

// brokerTimeouts are the real broker's (read-header 5 s, read 15 s, write
// 30 s, idle 120 s). ReadTimeout covers the body too, so a client trickling
// one in, or stalling after up to 1 MiB of it, is cut off within 15 s
// instead of holding the connection and the buffered body forever.
var brokerTimeouts = serverTimeouts{readHeader: 5 * time.Second, read: 15 * time.Second,
	write: 30 * time.Second, idle: 120 * time.Second}

// Running is a Server listening on a TCP address, as returned by Start.
type Running struct {
	// URL is the base URL, e.g. "http://127.0.0.1:40123" ("https://" when
	// the Server has Config.TLS).
	URL string
	// Addr is the listener's address, e.g. "127.0.0.1:40123".
	Addr string

	srv       *http.Server
	stop      chan struct{}
	done      chan struct{} // closed when both goroutines have returned
	closeOnce sync.Once
	closeErr  error
}

// Start serves s on addr (e.g. "127.0.0.1:0") until ctx is cancelled or
// Close is called, over TLS when s has Config.TLS. It returns once the
// listener is bound. The http.Server has the real broker's timeouts.
func Start(ctx context.Context, s *Server, addr string) (*Running, error) {
	return start(ctx, s, addr, brokerTimeouts)
}

// start is Start with the given timeouts, so tests can use short ones.
func start(ctx context.Context, s *Server, addr string, to serverTimeouts) (*Running, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	scheme := "http"
	if s.cfg.TLS != nil {
		// HTTP/2 when the client offers it, as the real broker's
		// ListenAndServeTLS does.
		tc := s.cfg.TLS.Clone()
		if len(tc.NextProtos) == 0 {
			tc.NextProtos = []string{"h2", "http/1.1"}
		}
		ln, scheme = tls.NewListener(ln, tc), "https"
	}
	var untouched connSet
	r := &Running{
		URL:  scheme + "://" + ln.Addr().String(),
		Addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           s.Handler(),
			ReadHeaderTimeout: to.readHeader,
			ReadTimeout:       to.read,
			WriteTimeout:      to.write,
			IdleTimeout:       to.idle,
			ConnState:         untouched.track,
		},
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // serve until shut down
		defer wg.Done()
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.closeErr = fmt.Errorf("broker: serve: %w", err)
		}
	}()
	go func() { // shut down on ctx cancellation or Close
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-r.stop:
		}
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		// A connection that never carried a request (a client's spare dial)
		// would hold Shutdown for its whole grace: it has nothing to finish.
		untouched.closeAll()
		if err := r.srv.Shutdown(sctx); err != nil {
			_ = r.srv.Close()
		}
	}()
	go func() { wg.Wait(); close(r.done) }()
	return r, nil
}

// Close shuts the server down gracefully and waits for it. It is idempotent
// and safe to call after ctx was cancelled.
func (r *Running) Close() error {
	r.closeOnce.Do(func() { close(r.stop) })
	<-r.done
	return r.closeErr
}

// connSet holds the connections that have not carried a request yet.
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

// track is an http.Server ConnState hook.
func (c *connSet) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == http.StateNew {
		if c.m == nil {
			c.m = map[net.Conn]struct{}{}
		}
		c.m[conn] = struct{}{}
		return
	}
	delete(c.m, conn)
}

// closeAll closes every connection still untouched.
func (c *connSet) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.m {
		conn.Close()
	}
}
