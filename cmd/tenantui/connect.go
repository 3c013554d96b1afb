package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
)

// AppCeiling is the scope ceiling of the sample's app.
var AppCeiling = []string{"read:analytics:*", "write:reports:*"}

// session is a connection to a broker, embedded or external.
type session struct {
	App        *agentwrit.App
	Admin      *agentwrit.Admin
	NoAdminWhy string
	Mode       string // "embedded" or "external"
	URL        string
	Version    string
	Healthy    bool
	ClientID   string
	close      func()
}

func (s *session) Close() {
	if s.close != nil {
		s.close()
	}
}

// shortID shortens an identifier for display: "tc-cad3ae1a6290" → "tc-cad3…".
func shortID(id string) string {
	if len(id) > 8 {
		return id[:7] + "…"
	}
	return id
}

// connect picks the broker: --broker or AGENTWRIT_BROKER_URL with the app
// credentials from the environment, as the sample does; otherwise an embedded
// broker on 127.0.0.1 with an app registered in-process. The same client
// code serves both; tf are the TLS files for an external broker. notify
// receives progress messages (rate limiting).
func connect(ctx context.Context, brokerFlag string, tf tlsFlags, notify func(string)) (*session, error) {
	return connectClock(ctx, brokerFlag, tf, notify, nil)
}

// connectClock is connect with the embedded broker on the clock now (nil:
// time.Now); `tour --solve` runs it on a virtual clock.
func connectClock(ctx context.Context, brokerFlag string, tf tlsFlags, notify func(string), now func() time.Time) (*session, error) {
	url := brokerFlag
	if url == "" {
		url = os.Getenv("AGENTWRIT_BROKER_URL")
	}
	opts := []agentwrit.Option{agentwrit.WithNotify(notify), agentwrit.WithUserAgent("tenantui")}
	if url != "" {
		tlsOpt, err := tf.option()
		if err != nil {
			return nil, err
		}
		opts = append(opts, tlsOpt)
	}
	var s *session
	if url == "" {
		var err error
		if s, err = startEmbedded(ctx, opts, now); err != nil {
			return nil, err
		}
	} else {
		id, secret := os.Getenv("AGENTWRIT_CLIENT_ID"), os.Getenv("AGENTWRIT_CLIENT_SECRET")
		if id == "" || secret == "" {
			return nil, usageErr("broker %s: set AGENTWRIT_CLIENT_ID and AGENTWRIT_CLIENT_SECRET (register an app with the ceiling read:analytics:*, write:reports:*)", url)
		}
		app, err := agentwrit.NewApp(url, id, secret, opts...)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		s = &session{App: app, Mode: "external", URL: url, ClientID: id}
		if as := os.Getenv("AGENTWRIT_ADMIN_SECRET"); as != "" {
			if s.Admin, err = agentwrit.NewAdmin(url, as, opts...); err != nil {
				return nil, usageErr("%v", err)
			}
		} else {
			s.NoAdminWhy = "AGENTWRIT_ADMIN_SECRET is not set"
		}
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := s.App.Health(hctx)
	if err != nil {
		s.Close()
		return nil, usageErr("%s", describeConnErr(s.URL, err))
	}
	s.Version, s.Healthy = h.Version, h.Status == "ok"
	actx, cancel2 := context.WithTimeout(ctx, 90*time.Second)
	defer cancel2()
	if err := s.App.Authenticate(actx); err != nil {
		s.Close()
		return nil, usageErr("%s", describeConnErr(s.URL, err))
	}
	if s.Admin != nil && s.Mode == "external" {
		checkAdmin(actx, s, notify)
	}
	return s, nil
}

// adminRejected is what the console says when the broker refuses the admin
// secret.
const adminRejected = "admin secret rejected: revoke and audit disabled"

// checkAdmin logs in with the admin secret once at start, so that a wrong
// one is said up front rather than on the first revoke: when the broker
// refuses it, revoke and audit are turned off with adminRejected as the
// reason. Other failures (rate limiting, say) leave them on: the admin
// calls log in again and report their own errors.
func checkAdmin(ctx context.Context, s *session, notify func(string)) {
	err := s.Admin.Authenticate(ctx)
	var au *agentwrit.AuthenticationError
	switch {
	case errors.As(err, &au):
		s.Admin, s.NoAdminWhy = nil, adminRejected
		if notify != nil {
			notify(adminRejected + " (check AGENTWRIT_ADMIN_SECRET)")
		}
	case err != nil && notify != nil:
		notify("admin login failed at start: " + describeConnErr(s.URL, err))
	}
}

func describeConnErr(url string, err error) string {
	var te *agentwrit.TransportError
	var au *agentwrit.AuthenticationError
	var rl *agentwrit.RateLimitError
	switch {
	case errors.As(err, &au):
		return fmt.Sprintf("broker %s rejected the app credentials (check AGENTWRIT_CLIENT_ID and AGENTWRIT_CLIENT_SECRET)", url)
	case errors.As(err, &rl):
		return fmt.Sprintf("broker %s is rate-limiting app logins; try again in %s", url, rl.RetryAfter)
	case errors.As(err, new(x509.HostnameError)):
		return fmt.Sprintf("broker %s: the TLS certificate does not name this host (%s); use a host it names in AGENTWRIT_BROKER_URL",
			url, tlsCause(err))
	case errors.Is(err, agentwrit.ErrTLSUntrusted):
		return fmt.Sprintf("broker %s: TLS certificate not trusted (%s); set AGENTWRIT_CA_CERT (or --ca-cert) to the CA certificate that signed it",
			url, tlsCause(err))
	case errors.Is(err, agentwrit.ErrClientCertRequired):
		return fmt.Sprintf("broker %s requires mTLS: it asks for a client certificate; set AGENTWRIT_CLIENT_CERT and AGENTWRIT_CLIENT_KEY (or --client-cert and --client-key)", url)
	case errors.Is(err, agentwrit.ErrClientCertRejected):
		return fmt.Sprintf("broker %s rejected the client certificate (%s); set AGENTWRIT_CLIENT_CERT and AGENTWRIT_CLIENT_KEY to a pair signed by a CA the broker trusts",
			url, tlsCause(err))
	case errors.Is(err, agentwrit.ErrPlainHTTPBroker):
		return fmt.Sprintf("broker %s serves plain HTTP, not HTTPS: use an http:// URL", url)
	case httpToHTTPS(err):
		return fmt.Sprintf("broker %s serves HTTPS: use an https:// URL in AGENTWRIT_BROKER_URL (or --broker)", url)
	case errors.As(err, &te):
		return te.Error()
	}
	return oneLine(err.Error())
}

// tlsCause is the innermost message of a TLS failure, e.g. "x509:
// certificate signed by unknown authority".
func tlsCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return oneLine(err.Error())
		}
		err = next
	}
}

// httpToHTTPS reports the reply a Go HTTPS server gives a plain-HTTP request.
func httpToHTTPS(err error) bool {
	var ae *agentwrit.APIError
	return errors.As(err, &ae) && ae.Status == 400 && strings.Contains(ae.Detail, "HTTP request to an HTTPS server")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func startEmbedded(ctx context.Context, opts []agentwrit.Option, now func() time.Time) (*session, error) {
	adminSecret := randomHex(24)
	srv, err := broker.New(broker.Config{AdminSecret: adminSecret, Now: now})
	if err != nil {
		return nil, err
	}
	creds, err := srv.RegisterApp("tenantui", AppCeiling, 1800)
	if err != nil {
		return nil, err
	}
	running, err := broker.Start(ctx, srv, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	// Our own clients reach the embedded broker in-process, through its
	// handler (see broker.Server.Transport); others use the loopback URL.
	// No client timeout: the handler runs synchronously inside RoundTrip,
	// which a timeout cannot cut short, and each timed request cost a timer
	// goroutine. The callers' contexts still bound every call.
	// Our broker serves concurrent launch-token requests without the real
	// one's lock errors, so they need not wait for each other.
	opts = append(opts, agentwrit.WithHTTPClient(&http.Client{Transport: srv.Transport()}), agentwrit.WithParallelLaunchTokens())
	app, err := agentwrit.NewApp(running.URL, creds.ClientID, creds.ClientSecret, opts...)
	if err != nil {
		running.Close()
		return nil, err
	}
	admin, err := agentwrit.NewAdmin(running.URL, adminSecret, opts...)
	if err != nil {
		running.Close()
		return nil, err
	}
	return &session{App: app, Admin: admin, Mode: "embedded", URL: running.URL, ClientID: creds.ClientID,
		close: func() {
			// Idle client connections would hold up the server's graceful
			// shutdown; none of ours has a request in flight by now.
			app.Client().CloseIdleConnections()
			running.Close()
		}}, nil
}
