package broker

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/tenantui/tenantui/internal/testpki"
)

// TestTLSStart: with Config.TLS, Start serves HTTPS, negotiates HTTP/2 as
// the real broker's ListenAndServeTLS does, and every reply carries HSTS.
func TestTLSStart(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	s, err := New(Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Server("broker").TLS(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := Start(ctx, s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	for _, path := range []string{"/v1/health", "/v1/nowhere"} {
		resp, err := hc.Get(r.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.Header.Get("Strict-Transport-Security") != hstsValue {
			t.Errorf("%s: %s, HSTS %q; want HTTP/2 and %q", path, resp.Proto, resp.Header.Get("Strict-Transport-Security"), hstsValue)
		}
	}
}
