package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/migrate"
	"github.com/flytesecrets/flyte/host/scope"
)

var cmdStoreMigrate = &command{
	Name:      "store migrate",
	UsageLine: "--to CONFIG",
	Short:     "copy every secret to the store another flyte.toml names",
	Long: `
Store migrate copies every secret of the organization (every scope and
type) from the configured store to the store that the configuration file
CONFIG names: for instance from the built-in filestore into etcd. CONFIG is
a file of your own, as with --config, and must name the same organization
and another store.

The destination is used as 'flyte -c CONFIG' uses it: its store plugin,
grants and identity (yours, unless CONFIG sets [seal] identity). Each value
is opened, sealed again under the destination's data key (made on the
first write, or opened as one of its recipients), then read back and
compared. A secret the
destination already holds with the same type and value is left alone
("unchanged"); one it holds with another value gets the next version, so
versions only grow; any other is created. Secrets the destination alone
holds are left alone. It prints one line per secret and a summary, never a
value, and is safe to run again: a second run finds every secret
unchanged.

Nothing is written when the source holds a record that fails its integrity
check, or the destination holds one of the same key and scope, or one of
another type, or a data key your identity cannot open.

Example:
  flyte store migrate --to ~/.config/flyte/etcd.toml
  flyte -c ~/.config/flyte/etcd.toml get secret`,
	Flags: func(c *cli, fs *pflag.FlagSet) {
		fs.String("to", "", "copy to the store of the configuration file `CONFIG`")
	},
	Run: (*cli).storeMigrate,
}

func (c *cli) storeMigrate(args []string) error {
	if err := c.argCount(args, 0, 0, ""); err != nil {
		return err
	}
	to, _ := c.fs.GetString("to")
	if to == "" {
		return withHint(usagef("missing --to CONFIG"), "usage: "+c.cmd.usage())
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	dcfg, err := c.loadTarget(to)
	if err != nil {
		return err
	}
	if dcfg.Organization != cfg.Organization {
		return withHint(fmt.Errorf("%s is for organization %s, not %s", dcfg.Path, dcfg.Organization, cfg.Organization),
			"store migrate copies one organization's secrets: CONFIG must name the same organization")
	}
	k, err := c.engine()
	if err != nil {
		return err
	}
	// The destination's own core, built as 'flyte -c CONFIG' builds it:
	// its plugins, grants and identity.
	d := &cli{ctx: c.ctx, stdin: c.stdin, stdout: c.stdout, stderr: c.stderr, getenv: c.getenv, cmd: c.cmd, verbose: c.verbose, cfg: dcfg}
	dk, err := d.engine()
	if err != nil {
		return err
	}
	defer func() {
		d.identityCreated()
		dk.Close()
	}()
	sum, err := k.Migrate(c.ctx, dk, func(s migrate.Step) {
		what := "migrated"
		if s.Outcome == migrate.Unchanged {
			what = "unchanged"
		}
		fmt.Fprintf(c.stdout, "%s %s (%s)\n", what, s.Key, s.Scope)
	})
	if err != nil {
		return c.migrateError(err, sum)
	}
	if sum.Total() == 0 {
		fmt.Fprintf(c.stdout, "the store holds no secret of organization %s: nothing to migrate\n", cfg.Organization)
		return nil
	}
	noun := "secrets"
	if sum.Total() == 1 {
		noun = "secret"
	}
	fmt.Fprintf(c.stdout, "%d %s of organization %s: %d migrated (%d created, %d updated), %d unchanged; every one verified in the destination\n",
		sum.Total(), noun, cfg.Organization, sum.Migrated(), sum.Created, sum.Updated, sum.Unchanged)
	return nil
}

// loadTarget reads the configuration file named by --to: a file of the
// user's own, as one named by --config.
func (c *cli) loadTarget(to string) (*config.Config, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	p := to
	if !filepath.IsAbs(p) {
		p = filepath.Join(cwd, p)
	}
	// A path that names nothing may be a value typed in the wrong place: it is not repeated.
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("config file given by --to: no such file")
	}
	f, err := config.Read(config.Found{Path: p, Source: config.SourceFlag})
	if err != nil {
		return nil, plainError(err)
	}
	dcfg, err := f.Decode(c.getenv)
	if err != nil {
		return nil, plainError(err)
	}
	return dcfg, nil
}

// migrateError adds hints to what stopped a migration.
func (c *cli) migrateError(err error, sum migrate.Summary) error {
	var damaged *migrate.DamagedError
	var locked *core.LockedError
	var conflict *core.ConflictError
	var dstDamaged *migrate.DestinationDamagedError
	var kind *migrate.KindError
	var hinter interface{ Hint() string }
	switch {
	case errors.As(err, &dstDamaged):
		return withHint(err, deleteInDestination(dstDamaged.Damaged.Key, dstDamaged.Damaged.Scope))
	case errors.As(err, &kind):
		return withHint(err, deleteInDestination(kind.Key, kind.Scope))
	case errors.As(err, &damaged):
		for _, d := range damaged.Damaged {
			fmt.Fprintf(c.stderr, "flyte: secret %s (%s scope): %s\n", d.Key, d.Scope, d.Reason)
		}
		return err
	case errors.As(err, &locked):
		return c.explain(err, "")
	case errors.As(err, &conflict):
		return withHint(err, "the destination changed meanwhile: run the command again")
	case errors.As(err, &hinter):
		return err
	case sum.Total() > 0:
		return withHint(err, "the secrets listed above were migrated; once this is fixed, run the command again: it finds them unchanged")
	}
	return err
}

// deleteInDestination is the hint for a secret of the destination that a
// migration will not replace.
func deleteInDestination(key string, s scope.Scope) string {
	return "delete it in the destination (flyte -c CONFIG delete secret " + join(key, scopeFlags(s)) + "), then run the migration again"
}
