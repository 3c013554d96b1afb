package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/tenantui/tenantui/broker"
)

// sampleAppName is the app --sample-app registers, as the sample names it.
const sampleAppName = "sample-apps"

// brokerFlags are the flags of `tenantui broker`.
type brokerFlags struct {
	addr, trust                string
	sample, noLimits, insecure bool
	trustProxy                 bool
	tlsCert, tlsKey, clientCA  string
	db                         string
	rotate                     bool
}

func (f *brokerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (loopback by default)")
	fs.BoolVar(&f.sample, "sample-app", false, "register an app with the ceiling read:analytics:*, write:reports:* and print its credentials as shell exports")
	fs.StringVar(&f.trust, "trust-domain", "agentwrit.local", "SPIFFE trust domain")
	fs.BoolVar(&f.noLimits, "no-rate-limits", false, "disable the login rate limits (testing only)")
	fs.BoolVar(&f.trustProxy, "trust-proxy", false, "key the login rate limits on the last X-Forwarded-For entry (only behind a reverse proxy that sets it)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM server certificate (leaf first, then any intermediates): serve HTTPS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.clientCA, "client-ca", "", "PEM CA certificate(s): require client certificates they signed (mTLS; needs --tls-cert)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP on a non-loopback --addr")
	fs.StringVar(&f.db, "db", "", "SQLite file keeping apps, signing key, agents, revocations and the audit chain across restarts (default: in memory)")
	fs.BoolVar(&f.rotate, "rotate-secret", false, "with --sample-app and --db: give the existing sample app a new client secret")
}

// check validates flag combinations and the exposure rule; it returns
// whether the address is loopback.
func (f *brokerFlags) check() (loopback bool, err error) {
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return false, usageErr("--addr %q: %v", f.addr, err)
	}
	ip := net.ParseIP(host)
	loopback = host == "localhost" || ip != nil && ip.IsLoopback()
	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return false, usageErr("--tls-cert and --tls-key go together: give both")
	case f.clientCA != "" && f.tlsCert == "":
		return false, usageErr("--client-ca needs --tls-cert and --tls-key: mTLS is TLS that also asks the client for a certificate")
	case f.rotate && (!f.sample || f.db == ""):
		return false, usageErr("--rotate-secret needs --sample-app and --db (without --db every start creates a new app and secret)")
	case !loopback && f.tlsCert == "" && !f.insecure:
		return false, usageErr("refusing plain HTTP on %s, which is not loopback: secrets and tokens would cross the network in clear; give --tls-cert and --tls-key, or --insecure", f.addr)
	}
	return loopback, nil
}

// serverTLS is the broker's TLS setup: the real broker's choices (TLS 1.2+,
// AEAD cipher suites only; with a client CA, client certificates required
// and verified).
type serverTLS struct {
	config *tls.Config
	leaf   *x509.Certificate
	chain  *x509.CertPool // the certificate file's other certificates
	anchor *x509.CertPool // those, and the leaf if it is self-signed: what the file can anchor
	client *x509.CertPool // the client CA pool, if any
}

func loadServerTLS(certFile, keyFile, clientCA string) (*serverTLS, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, usageErr("--tls-cert %s, --tls-key %s: %s", certFile, keyFile, oneLine(err.Error()))
	}
	st := &serverTLS{chain: x509.NewCertPool(), anchor: x509.NewCertPool()}
	for i, der := range pair.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, usageErr("--tls-cert %s: %s", certFile, oneLine(err.Error()))
		}
		switch {
		case i > 0:
			st.chain.AddCert(c)
			st.anchor.AddCert(c)
		case c.CheckSignatureFrom(c) == nil:
			st.leaf = c
			st.anchor.AddCert(c)
		default:
			st.leaf = c
		}
	}
	st.config = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		CipherSuites: []uint16{ // AEAD only, as the real broker (TLS 1.3 suites are always AEAD)
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, usageErr("--client-ca %s: %s", clientCA, oneLine(errors.Unwrap(err).Error()))
		}
		st.client = x509.NewCertPool()
		if !st.client.AppendCertsFromPEM(pem) {
			return nil, usageErr("--client-ca %s: no PEM certificate in it", clientCA)
		}
		st.config.ClientAuth, st.config.ClientCAs = tls.RequireAndVerifyClientCert, st.client
	}
	return st, nil
}

// urlHost is the host clients should use for a broker bound to host: one
// its certificate names, so that the printed URL verifies (ok=false when
// there is none).
func (st *serverTLS) urlHost(host string) (string, bool) {
	ip := net.ParseIP(host)
	unspecified := host == "" || ip != nil && ip.IsUnspecified()
	local := unspecified || ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
	switch {
	case !unspecified && st.leaf.VerifyHostname(host) == nil:
		return host, true
	case local && st.leaf.VerifyHostname("localhost") == nil:
		return "localhost", true
	case unspecified && len(st.leaf.DNSNames) > 0:
		return st.leaf.DNSNames[0], true
	}
	return host, false
}

// caFile says which file clients should trust: "" when the system roots
// verify the certificate already, a file that verifies it otherwise, and
// ok=false when the CA is private and not at hand.
func (st *serverTLS) caFile(certFile, clientCA string) (file string, ok bool) {
	if _, err := st.leaf.Verify(x509.VerifyOptions{Intermediates: st.chain}); err == nil {
		return "", true
	}
	if _, err := st.leaf.Verify(x509.VerifyOptions{Roots: st.anchor, Intermediates: st.chain}); err == nil {
		return certFile, true
	}
	if st.client != nil {
		if _, err := st.leaf.Verify(x509.VerifyOptions{Roots: st.client, Intermediates: st.chain}); err == nil {
			return clientCA, true
		}
	}
	return "", false
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// cmdBroker runs a standalone AgentWrit-compatible broker until SIGINT/SIGTERM.
func cmdBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	var f brokerFlags
	f.register(fs)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	loopback, err := f.check()
	if err != nil {
		return err
	}
	if !loopback && f.tlsCert == "" {
		fmt.Fprintf(stderr, "tenantui: warning: plain HTTP on %s, which is not loopback (--insecure)\n", f.addr)
	}
	var st *serverTLS
	cfg := broker.Config{TrustDomain: f.trust, DisableRateLimits: f.noLimits, TrustProxy: f.trustProxy, DBPath: f.db}
	if f.tlsCert != "" {
		if st, err = loadServerTLS(f.tlsCert, f.tlsKey, f.clientCA); err != nil {
			return err
		}
		cfg.TLS = st.config
	}
	cfg.AdminSecret = os.Getenv("AA_ADMIN_SECRET")
	generated := cfg.AdminSecret == ""
	if generated {
		cfg.AdminSecret = randomHex(24)
	}
	srv, err := broker.New(cfg)
	switch {
	case errors.Is(err, broker.ErrDBInUse):
		return usageErr("--db %s is in use by another broker: stop it first", f.db)
	case err != nil && f.db != "":
		return usageErr("--db: %s", oneLine(err.Error()))
	case err != nil:
		return usageErr("%s", oneLine(err.Error()))
	}
	defer srv.Close()
	running, err := broker.Start(ctx, srv, f.addr)
	if err != nil {
		return usageErr("cannot listen on %s: %s", f.addr, oneLine(err.Error()))
	}
	defer running.Close()

	url := running.URL
	mode := "plain HTTP"
	named := true
	if st != nil {
		host, port, _ := net.SplitHostPort(running.Addr)
		host, named = st.urlHost(host)
		url = "https://" + net.JoinHostPort(host, port)
		mode = "TLS"
		if st.client != nil {
			mode = "mTLS"
		}
	}
	fmt.Fprintf(stdout, "# AgentWrit-compatible broker (tenantui) listening on %s (%s)\n", url, mode)
	if !named {
		fmt.Fprintf(stdout, "# warning: %s does not name this host: clients will refuse it\n", f.tlsCert)
	}
	if f.db != "" {
		fmt.Fprintf(stdout, "# state in %s: %d audit events, chain verified\n", f.db, len(srv.AuditEvents()))
	}
	if generated {
		// Printed once, on purpose: the operator needs it for admin calls.
		fmt.Fprintf(stdout, "# admin secret (generated; set AA_ADMIN_SECRET to choose one):\nexport AGENTWRIT_ADMIN_SECRET=%s\n", cfg.AdminSecret)
		// The broker's operator CLI (awrit) reads these names.
		fmt.Fprintf(stdout, "export AACTL_BROKER_URL=%s\nexport AACTL_ADMIN_SECRET=%s\n", url, cfg.AdminSecret)
	} else {
		// A reference, not the value: the secret stays out of the output.
		fmt.Fprintf(stdout, "# admin secret: from AA_ADMIN_SECRET\nexport AGENTWRIT_ADMIN_SECRET=\"$AA_ADMIN_SECRET\"\n")
		fmt.Fprintf(stdout, "export AACTL_BROKER_URL=%s\nexport AACTL_ADMIN_SECRET=\"$AA_ADMIN_SECRET\"\n", url)
	}
	if st != nil {
		switch ca, ok := st.caFile(f.tlsCert, f.clientCA); {
		case !ok:
			fmt.Fprintln(stdout, "# the certificate's CA is private: export AGENTWRIT_CA_CERT=<the CA certificate that signed it>")
		case ca != "":
			fmt.Fprintf(stdout, "export AGENTWRIT_CA_CERT=%s\n", absPath(ca))
		}
		if st.client != nil {
			fmt.Fprintf(stdout, "# mTLS: clients need a certificate signed by %s:\n# export AGENTWRIT_CLIENT_CERT=<client certificate> AGENTWRIT_CLIENT_KEY=<its key>\n", absPath(f.clientCA))
		}
	}
	if f.sample {
		if err := printSampleApp(stdout, srv, url, f); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "# Ctrl+C to stop")
	<-ctx.Done()
	if err := running.Close(); err != nil {
		return failErr("shutdown: %v", err)
	}
	if err := srv.Close(); err != nil {
		return failErr("close %s: %v", f.db, err)
	}
	fmt.Fprintln(stderr, "tenantui: broker stopped")
	return nil
}

// printSampleApp registers the sample app, or with --db reuses the one made
// at an earlier start: its secret was printed then and only its hash is
// kept, so it is not printed again unless --rotate-secret issues a new one.
func printSampleApp(stdout io.Writer, srv *broker.Server, url string, f brokerFlags) error {
	a, exists := srv.AppByName(sampleAppName)
	var creds broker.AppCredentials
	var err error
	switch {
	case exists && !a.Active:
		return usageErr("sample app %s (%s) is deregistered in %s", sampleAppName, a.ClientID, f.db)
	case exists && f.rotate:
		if creds, err = srv.RotateSecret(a.AppID); err != nil {
			return failErr("rotate the sample app's secret: %v", err)
		}
		fmt.Fprintln(stdout, "# sample app: new client secret (the old one no longer works)")
	case exists:
		fmt.Fprintf(stdout, "export AGENTWRIT_BROKER_URL=%s\nexport AGENTWRIT_CLIENT_ID=%s\n", url, a.ClientID)
		fmt.Fprintln(stdout, "# AGENTWRIT_CLIENT_SECRET: printed when the app was created (only its hash is kept); --rotate-secret issues a new one")
		return nil
	default:
		if creds, err = srv.RegisterApp(sampleAppName, AppCeiling, 1800); err != nil {
			return failErr("register sample app: %v", err)
		}
	}
	fmt.Fprintf(stdout, "export AGENTWRIT_BROKER_URL=%s\nexport AGENTWRIT_CLIENT_ID=%s\nexport AGENTWRIT_CLIENT_SECRET=%s\n",
		url, creds.ClientID, creds.ClientSecret)
	return nil
}
