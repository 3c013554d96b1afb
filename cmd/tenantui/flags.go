package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/pipeline"
)

// common holds the flags shared by the console and the headless run.
type common struct {
	broker      string
	ttl         time.Duration // --ttl, given in seconds
	data        string
	reports     string
	tenantsFile string
	seed        int64
	scale       float64
	concurrency int
	autoRenew   bool
	tls         tlsFlags
	log         string // --log: every event as JSON lines
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.broker, "broker", "", "AgentWrit broker URL (default: $AGENTWRIT_BROKER_URL, else an embedded broker)")
	c.ttl = 300 * time.Second
	fs.Var((*secondsFlag)(&c.ttl), "ttl", "agents' max TTL in seconds")
	fs.StringVar(&c.data, "data", defaultDataDir(), "directory of the tenants' SQLite stores")
	fs.StringVar(&c.reports, "reports", "reports", "directory reports are written to")
	fs.StringVar(&c.tenantsFile, "tenants", "", "tenant catalog (JSON); default: the sample's three tenants")
	fs.Int64Var(&c.seed, "seed", pipeline.DefaultSeed, "seed of the generated tenant data")
	fs.Float64Var(&c.scale, "scale", pipeline.DefaultScale, "bank/retail data size as a fraction of the sample's 2.4M/847K rows (0 < scale ≤ 1)")
	fs.IntVar(&c.concurrency, "concurrency", 0, "tenants processed at once by run-all (0: 16 with the embedded broker, 4 with another)")
	fs.BoolVar(&c.autoRenew, "auto-renew", false, "renew agents shortly before they expire")
	fs.StringVar(&c.log, "log", "", "write every event to `FILE` as JSON lines (created or truncated)")
	c.tls.register(fs)
}

// tlsFlags are the client's TLS files, shared by every command that talks
// to a broker; each falls back to its environment variable.
type tlsFlags struct {
	ca, cert, key string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ca, "ca-cert", "", "PEM CA certificate to trust for the broker, besides the system roots (default $AGENTWRIT_CA_CERT)")
	fs.StringVar(&f.cert, "client-cert", "", "PEM client certificate for a broker that requires mTLS (default $AGENTWRIT_CLIENT_CERT)")
	fs.StringVar(&f.key, "client-key", "", "PEM private key of --client-cert (default $AGENTWRIT_CLIENT_KEY)")
}

// files resolves the flags against the environment.
func (f tlsFlags) files() agentwrit.TLSFiles {
	or := func(v, env string) string {
		if v != "" {
			return v
		}
		return os.Getenv(env)
	}
	return agentwrit.TLSFiles{CACert: or(f.ca, "AGENTWRIT_CA_CERT"), ClientCert: or(f.cert, "AGENTWRIT_CLIENT_CERT"),
		ClientKey: or(f.key, "AGENTWRIT_CLIENT_KEY")}
}

// option loads the TLS files into a client option (nil when none is
// given); a bad file is a usage error naming the flag and the variable.
func (f tlsFlags) option() (agentwrit.Option, error) {
	tc, err := agentwrit.LoadTLSConfig(f.files())
	var fe *agentwrit.TLSFileError
	switch {
	case errors.As(err, &fe) && fe.Role == "ca":
		return nil, usageErr("--ca-cert / AGENTWRIT_CA_CERT: %s: %s", fe.File, oneLine(fe.Err.Error()))
	case errors.As(err, &fe):
		return nil, usageErr("--client-cert, --client-key / AGENTWRIT_CLIENT_CERT, AGENTWRIT_CLIENT_KEY: %s: %s",
			fe.File, oneLine(fe.Err.Error()))
	case err != nil:
		return nil, usageErr("%s", oneLine(err.Error()))
	case tc == nil:
		return nil, nil
	}
	return agentwrit.WithTLSConfig(tc), nil
}

// Run-all's automatic concurrency: the embedded broker answers in-process
// and 16 tenants at once keep both of this machine class's cores busy while
// some wait for their reports' sync (measured: 1,000 tenants in 0.65 s at
// 16, 0.72 s at 8, 0.80 s at 4); a remote broker gets 4, which the real
// v2.0.0 broker's SQLite serves without lock errors.
const (
	embeddedConcurrency = 16
	remoteConcurrency   = 4
)

// concurrencyFor is --concurrency, or the automatic value for sess.
func (c *common) concurrencyFor(sess *session) int {
	switch {
	case c.concurrency > 0:
		return c.concurrency
	case sess != nil && sess.Mode == "embedded":
		return embeddedConcurrency
	}
	return remoteConcurrency
}

func (c *common) validate() error {
	if c.ttl < time.Second || c.ttl > 24*time.Hour {
		return usageErr("--ttl must be between 1 and 86400 seconds, got %d", int(c.ttl/time.Second))
	}
	if c.scale <= 0 || c.scale > 1 {
		return usageErr("--scale must be in (0, 1], got %g", c.scale)
	}
	if c.concurrency < 0 || c.concurrency > 256 {
		return usageErr("--concurrency must be between 1 and 256 (0: automatic), got %d", c.concurrency)
	}
	if c.data == "" || c.reports == "" {
		return usageErr("--data and --reports must not be empty")
	}
	return nil
}

func (c *common) tenants() ([]pipeline.Tenant, error) {
	if c.tenantsFile == "" {
		return pipeline.DefaultTenants(), nil
	}
	ts, err := pipeline.LoadTenants(c.tenantsFile)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return ts, nil
}

// secondsFlag is a duration given on the command line as whole seconds
// ("--ttl 8"): the one place a TTL is a number.
type secondsFlag time.Duration

func (f *secondsFlag) String() string { return strconv.Itoa(int(time.Duration(*f) / time.Second)) }

func (f *secondsFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number of seconds")
	}
	*f = secondsFlag(time.Duration(n) * time.Second)
	return nil
}

func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tenantui")
	}
	return filepath.Join(os.TempDir(), "tenantui")
}

// parse parses args with one-line errors: a bad flag is a usage error.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "Usage of tenantui %s:\n", fs.Name())
			fs.PrintDefaults()
			return err
		}
		return usageErr("%s (see tenantui %s -h)", oneLine(err.Error()), fs.Name())
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q (see tenantui %s -h)", fs.Arg(0), fs.Name())
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// parseCommon parses a command that takes the common flags (plus those extra
// registers), validates them and loads the tenant catalog.
func parseCommon(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (common, []pipeline.Tenant, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args, stderr); err != nil {
		return c, nil, err
	}
	if err := c.validate(); err != nil {
		return c, nil, err
	}
	tenants, err := c.tenants()
	return c, tenants, err
}

// openLog creates the --log file, if one was asked for (nil otherwise).
func (c *common) openLog() (*pipeline.EventLog, error) {
	if c.log == "" {
		return nil, nil
	}
	l, err := pipeline.CreateEventLog(c.log)
	if err != nil {
		return nil, usageErr("--log: %s", oneLine(err.Error()))
	}
	return l, nil
}

// adminFlags are what the operator's commands (audit, watch) take: a broker
// (--broker, else $AGENTWRIT_BROKER_URL), its TLS files, and the admin
// secret from $AGENTWRIT_ADMIN_SECRET.
type adminFlags struct {
	url string
	tls tlsFlags
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "broker", os.Getenv("AGENTWRIT_BROKER_URL"), "broker URL (default $AGENTWRIT_BROKER_URL); the admin secret comes from $AGENTWRIT_ADMIN_SECRET")
	a.tls.register(fs)
}

// admin returns an admin session for command cmd, after the flags are
// parsed; a missing broker or secret, or a bad TLS file, is a usage error.
func (a *adminFlags) admin(cmd string, opts ...agentwrit.Option) (*agentwrit.Admin, error) {
	tlsOpt, err := a.tls.option()
	if err != nil {
		return nil, err
	}
	secret := os.Getenv("AGENTWRIT_ADMIN_SECRET")
	if a.url == "" || secret == "" {
		return nil, usageErr("%s needs a broker: set AGENTWRIT_BROKER_URL (or --broker) and AGENTWRIT_ADMIN_SECRET (the operator's secret: the audit trail is admin-only)", cmd)
	}
	admin, err := agentwrit.NewAdmin(a.url, secret, append(opts, tlsOpt)...)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return admin, nil
}
