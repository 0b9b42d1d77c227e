package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/migrate"
	"github.com/flytesecrets/flyte/host/secrets"
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
	if k.Location() == dk.Location() {
		return withHint(fmt.Errorf("%s names the store this configuration uses", dcfg.Path),
			"CONFIG must name another store: another store.path, or the etcd store")
	}
	src, err := k.Secrets(c.ctx)
	if err != nil {
		return err
	}
	dst, err := dk.Secrets(c.ctx)
	if err != nil {
		return err
	}
	if err := sameStore(c.ctx, src, dst); err != nil {
		if errors.Is(err, errSameStore) {
			return withHint(fmt.Errorf("%s names the store this configuration uses (its data key has the same store id)", dcfg.Path),
				"CONFIG must name another store: another store.path, or the etcd store")
		}
		return c.migrateError(err, migrate.Summary{})
	}
	sum, err := migrate.Run(c.ctx, src, dst, func(s migrate.Step) {
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
	var locked *secrets.LockedError
	var conflict *secrets.ConflictError
	var hinter interface{ Hint() string }
	switch {
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

var errSameStore = errors.New("same store")

// sameStore reports errSameStore when both stores hold a data key with the
// same store id: one store reached by two names (localhost and 127.0.0.1,
// another endpoint of the same etcd cluster), which the comparison of
// locations cannot tell. Nothing is written: a store without a data key, or
// one that cannot say its id (a legacy bare key, a store older than ABI
// 1.3), is left to that comparison.
func sameStore(ctx context.Context, src, dst *secrets.Manager) error {
	id := func(m *secrets.Manager) (string, error) {
		t, err := m.Recipients(ctx)
		var fence *secrets.FenceError
		switch {
		case errors.Is(err, secrets.ErrNoDataKey), errors.Is(err, secrets.ErrLegacyKey), errors.As(err, &fence):
			return "", nil
		case err != nil:
			return "", err
		}
		return t.StoreID, nil
	}
	s, err := id(src)
	if err != nil {
		return fmt.Errorf("source store: %w", err)
	}
	if s == "" {
		return nil
	}
	d, err := id(dst)
	if err != nil {
		return fmt.Errorf("destination store: %w", err)
	}
	if d == s {
		return errSameStore
	}
	return nil
}
