package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// common holds the flags shared by the console and the headless run.
type common struct {
	broker      string
	ttl         int
	data        string
	reports     string
	tenantsFile string
	seed        int64
	scale       float64
	concurrency int
	autoRenew   bool
	log         string // --log: every event as JSON lines
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.broker, "broker", "", "AgentWrit broker URL (default: $AGENTWRIT_BROKER_URL, else an embedded broker)")
	fs.IntVar(&c.ttl, "ttl", 300, "agents' max TTL in seconds")
	fs.StringVar(&c.data, "data", defaultDataDir(), "directory of the tenants' SQLite stores")
	fs.StringVar(&c.reports, "reports", "reports", "directory reports are written to")
	fs.StringVar(&c.tenantsFile, "tenants", "", "tenant catalog (JSON); default: the sample's three tenants")
	fs.Int64Var(&c.seed, "seed", pipeline.DefaultSeed, "seed of the generated tenant data")
	fs.Float64Var(&c.scale, "scale", pipeline.DefaultScale, "bank/retail data size as a fraction of the sample's 2.4M/847K rows (0 < scale ≤ 1)")
	fs.IntVar(&c.concurrency, "concurrency", 4, "tenants processed at once by run-all")
	fs.BoolVar(&c.autoRenew, "auto-renew", false, "renew agents shortly before they expire")
	fs.StringVar(&c.log, "log", "", "write every event to `FILE` as JSON lines (created or truncated)")
}

func (c *common) validate() error {
	if c.ttl <= 0 || c.ttl > 86400 {
		return usageErr("--ttl must be between 1 and 86400 seconds, got %d", c.ttl)
	}
	if c.scale <= 0 || c.scale > 1 {
		return usageErr("--scale must be in (0, 1], got %g", c.scale)
	}
	if c.concurrency < 1 || c.concurrency > 256 {
		return usageErr("--concurrency must be between 1 and 256, got %d", c.concurrency)
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

func (c *common) ttlDuration() time.Duration { return time.Duration(c.ttl) * time.Second }

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
