package agentwrit

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantui/tenantui/broker"
	"github.com/tenantui/tenantui/internal/testpki"
)

// startTLSBroker serves our broker on loopback over TLS with the server
// certificate of ca; clientCA, when non-nil, makes it require client
// certificates signed by it (mTLS).
func startTLSBroker(t *testing.T, ca *testpki.CA, clientCA *testpki.CA) string {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ca.Server("broker").TLS(t)}}
	if clientCA != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA.Pool
	}
	s, err := broker.New(broker.Config{AdminSecret: "tls-test-admin-secret", TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := broker.Start(ctx, s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); r.Close() })
	if !strings.HasPrefix(r.URL, "https://") {
		t.Fatalf("URL %s, want https://", r.URL)
	}
	return r.URL
}

func tlsHealth(t *testing.T, url string, f TLSFiles) error {
	t.Helper()
	tc, err := LoadTLSConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(url, WithTLSConfig(tc))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(context.Background())
	return err
}

func TestTLSHandshakes(t *testing.T) {
	good, wrong := testpki.NewCA(t, "good"), testpki.NewCA(t, "wrong")
	tlsURL := startTLSBroker(t, good, nil)
	mtlsURL := startTLSBroker(t, good, good)
	client, stranger := good.Client("tenantui"), wrong.Client("stranger")

	for _, tc := range []struct {
		name  string
		url   string
		files TLSFiles
		want  error // nil: the health call succeeds
		text  string
	}{
		{"tls, CA given", tlsURL, TLSFiles{CACert: good.CertFile}, nil, ""},
		{"tls, no CA", tlsURL, TLSFiles{}, ErrTLSUntrusted, "TLS certificate not trusted"},
		{"tls, wrong CA", tlsURL, TLSFiles{CACert: wrong.CertFile}, ErrTLSUntrusted, "signed by unknown authority"},
		{"mtls, client cert", mtlsURL, TLSFiles{CACert: good.CertFile, ClientCert: client.CertFile, ClientKey: client.KeyFile}, nil, ""},
		{"mtls, no client cert", mtlsURL, TLSFiles{CACert: good.CertFile}, ErrClientCertRequired, "requires a client certificate (mTLS)"},
		{"mtls, client cert of another CA", mtlsURL, TLSFiles{CACert: good.CertFile, ClientCert: stranger.CertFile, ClientKey: stranger.KeyFile},
			ErrClientCertRejected, "rejected the client certificate"},
		{"mtls, untrusted broker and no client cert", mtlsURL, TLSFiles{}, ErrTLSUntrusted, "not trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tlsHealth(t, tc.url, tc.files)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("health: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("health error %v, want %v", err, tc.want)
			}
			var te *TransportError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TransportError", err)
			}
			if !strings.Contains(err.Error(), tc.text) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line containing %q", err, tc.text)
			}
		})
	}
}

// TestTLSToPlainBroker: an https:// URL to a broker serving plain HTTP.
func TestTLSToPlainBroker(t *testing.T) {
	s, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := broker.Start(ctx, s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := NewClient("https://"+r.Addr, WithTLSConfig(&tls.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(ctx)
	if !errors.Is(err, ErrPlainHTTPBroker) || errors.Is(err, ErrTLSUntrusted) {
		t.Fatalf("health: %v, want ErrPlainHTTPBroker", err)
	}
}

func TestLoadTLSConfigErrors(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	a, b := ca.Client("a"), ca.Client("b")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name  string
		files TLSFiles
		role  string
		text  string
	}{
		{"unreadable CA", TLSFiles{CACert: missing}, "ca", "no such file or directory"},
		{"CA not PEM", TLSFiles{CACert: notPEM}, "ca", "no PEM certificate"},
		{"mismatched key", TLSFiles{ClientCert: a.CertFile, ClientKey: b.KeyFile}, "client", "private key does not match public key"},
		{"unreadable key", TLSFiles{ClientCert: a.CertFile, ClientKey: missing}, "client", missing + ": no such file or directory"},
		{"cert without key", TLSFiles{ClientCert: a.CertFile}, "client", "give both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadTLSConfig(tc.files)
			var fe *TLSFileError
			if !errors.As(err, &fe) || fe.Role != tc.role {
				t.Fatalf("error %v (%T), want a *TLSFileError of role %s", err, err, tc.role)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q, want it to contain %q", err, tc.text)
			}
		})
	}
	if c, err := LoadTLSConfig(TLSFiles{}); c != nil || err != nil {
		t.Fatalf("no files: %v, %v; want nil, nil", c, err)
	}
}
