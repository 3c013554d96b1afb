package agentwrit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// TLSFiles names the PEM files of a client's TLS setup. Every field is
// optional, but ClientCert and ClientKey go together.
type TLSFiles struct {
	CACert     string // CA certificate(s) trusted in addition to the system roots
	ClientCert string // client certificate, presented to a broker that asks (mTLS)
	ClientKey  string // ClientCert's private key
}

// TLSFileError is a TLS file that cannot be used: unreadable, not PEM, or
// a client key that does not match its certificate.
type TLSFileError struct {
	Role string // "ca" (TLSFiles.CACert) or "client" (the client key pair)
	File string // the file in question ("cert and key" paths for a pair)
	Err  error
}

func (e *TLSFileError) Error() string {
	what := "CA certificate"
	if e.Role == "client" {
		what = "client certificate and key"
	}
	return fmt.Sprintf("agentwrit: %s %s: %s", what, e.File, oneLine(e.Err.Error(), 200))
}

// Unwrap returns the cause.
func (e *TLSFileError) Unwrap() error { return e.Err }

// LoadTLSConfig returns the client TLS configuration for f: the system
// roots plus f.CACert, and the client key pair when f names one. It returns
// nil, nil when f names nothing. Errors are *TLSFileError.
func LoadTLSConfig(f TLSFiles) (*tls.Config, error) {
	if f == (TLSFiles{}) {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CACert != "" {
		pem, err := os.ReadFile(f.CACert)
		if err != nil {
			return nil, &TLSFileError{Role: "ca", File: f.CACert, Err: errors.Unwrap(err)}
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &TLSFileError{Role: "ca", File: f.CACert, Err: errors.New("no PEM certificate in it")}
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.ClientCert == "" && f.ClientKey == "":
	case f.ClientCert == "" || f.ClientKey == "":
		return nil, &TLSFileError{Role: "client", File: f.ClientCert + f.ClientKey,
			Err: errors.New("a client certificate needs its key and the reverse: give both")}
	default:
		pair, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return nil, &TLSFileError{Role: "client", File: pe.Path, Err: pe.Err}
			}
			return nil, &TLSFileError{Role: "client", File: f.ClientCert + " and " + f.ClientKey, Err: err}
		}
		// Always present the pair, even when its issuer is not among the
		// CAs the broker names: the broker then says why it refuses it,
		// where Go's default would silently send no certificate at all.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return cfg, nil
}

// WithTLSConfig makes the client use c for HTTPS (trusted roots, a client
// certificate). It builds one *http.Client with the default's settings when
// called, so passing the same Option to several constructors shares one
// connection pool. A nil c keeps the default client. It is overridden by a
// later [WithHTTPClient], and overrides an earlier one.
func WithTLSConfig(c *tls.Config) Option {
	if c == nil {
		return func(*config) {}
	}
	hc := newHTTPClient(c)
	return func(cfg *config) { cfg.httpClient = hc }
}

// Failure classes of a TLS handshake, matched with errors.Is on an error
// that wraps a *TransportError.
var (
	// ErrTLSUntrusted: the broker's certificate does not verify against the
	// trusted roots (a private CA that was not given, or a wrong name).
	ErrTLSUntrusted = errors.New("broker certificate not trusted")
	// ErrClientCertRequired: the broker requires a client certificate
	// (mTLS) and none was presented.
	ErrClientCertRequired = errors.New("broker requires a client certificate")
	// ErrClientCertRejected: the broker refused the presented client
	// certificate (not signed by a CA it trusts, expired, or unusable).
	ErrClientCertRejected = errors.New("broker rejected the client certificate")
	// ErrPlainHTTPBroker: an https:// URL reached a broker serving plain HTTP.
	ErrPlainHTTPBroker = errors.New("broker serves plain HTTP")
)

// Is classifies the transport failure for the sentinels above.
func (e *TransportError) Is(target error) bool {
	switch target {
	case ErrTLSUntrusted, ErrClientCertRequired, ErrClientCertRejected, ErrPlainHTTPBroker:
		return tlsClass(e.Err) == target
	}
	return false
}

// tlsClass returns the sentinel for a TLS failure, or nil.
func tlsClass(err error) error {
	if err == nil {
		return nil
	}
	var (
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invalid x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		opErr   *net.OpError
	)
	// An alert from the broker arrives as a "remote error" OpError whose
	// alert type is unexported: its text is all there is to go on.
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		switch msg := opErr.Err.Error(); {
		case strings.Contains(msg, "certificate required"): // TLS 1.3's alert 116
			return ErrClientCertRequired
		case strings.Contains(msg, "certificate"), strings.Contains(msg, "unknown certificate authority"):
			return ErrClientCertRejected
		}
		return nil
	}
	switch {
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &invalid):
		return ErrTLSUntrusted
	case errors.As(err, &recErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return ErrPlainHTTPBroker
	}
	return nil
}
