package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/trust"
)

var cmdConfigTrust = &command{
	Name:      "config trust",
	UsageLine: "[PATH] | --list | --revoke [PATH]",
	Short:     "trust a flyte.toml found from the working directory",
	Long: `
A flyte.toml that flyte finds by searching the working directory and its
parents may have been written by someone else: a repository you cloned, or
another user of a shared directory. Until you trust it, such a file may set
only organization, domains and [[environments]] (without a per-secret
injector). One that sets anything else (the store, the identity, plugins,
injectors) is refused. A file named with --config or $FLYTE_CONFIG, and
~/.config/flyte/flyte.toml, are your own and need no trust.

Config trust records the file's real path and the SHA-256 of its content and
of every plugin it names, in flyte's state directory ($XDG_STATE_HOME/flyte,
default ~/.local/state/flyte). When the file or one of its plugins changes,
flyte refuses it until you trust it again. PATH defaults to the flyte.toml
that would be found from the working directory. Review a file before you
trust it: it chooses the code that handles your secrets.

Every configuration file flyte reads must be a regular file owned by you or
root and not writable by group or others, in a directory that is the same,
below directories owned by you or root that others cannot write (unless they
are sticky, as /tmp is).`,
	Flags: func(c *cli, fs *pflag.FlagSet) {
		fs.BoolVar(&c.trustList, "list", false, "list the files you trust, and whether each still matches")
		fs.BoolVar(&c.trustRevoke, "revoke", false, "stop trusting the file at PATH")
	},
	Run: func(c *cli, args []string) error { return c.configTrust(args) },
}

func (c *cli) configTrust(args []string) error {
	if c.trustList && c.trustRevoke {
		return withHint(usagef("--list and --revoke cannot be used together"), "usage: "+c.cmd.usage())
	}
	if c.fs.Changed("config") { // a global flag (cli.go): it names a file of your own, which needs no trust
		return withHint(usagef("-c/--config does not apply to config trust: a file named with --config is your own and needs no trust"),
			"name the file to trust as PATH: flyte config trust PATH")
	}
	if c.trustList {
		if err := c.argCount(args, 0, 0, ""); err != nil {
			return err
		}
		return c.listTrusted()
	}
	if err := c.argCount(args, 0, 1, "PATH"); err != nil {
		return err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	path := ""
	if len(args) == 1 {
		path = args[0]
		// A PATH that names nothing may be a value typed in the wrong place: it is not repeated.
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			if c.trustRevoke {
				if _, err := trust.Revoke(path, cwd, c.getenv); err == nil {
					fmt.Fprintln(c.stdout, "revoked trust in the file given as PATH (it no longer exists)")
					return nil
				}
				return withHint(errors.New("the file given as PATH does not exist and is not trusted"), "run 'flyte config trust --list' to see the files you trust")
			}
			return errors.New("config file given as PATH: no such file")
		}
	} else if path, err = config.Search(cwd); err != nil {
		return err
	} else if path == "" {
		return withHint(errors.New("no "+config.FileName+" in the working directory or its parents"), "name the file: flyte config trust PATH")
	}
	if c.trustRevoke {
		p, err := trust.Revoke(path, cwd, c.getenv)
		if err != nil {
			return plainError(err)
		}
		fmt.Fprintf(c.stdout, "revoked trust in %s\n", p)
		return nil
	}
	t, err := trust.Trust(path, cwd, c.getenv)
	if err != nil {
		return plainError(err)
	}
	fmt.Fprintf(c.stdout, "trusted %s (sha256 %s)\n", t.Shown, t.SHA256)
	if len(t.Sets) > 0 {
		fmt.Fprintf(c.stdout, "  it may now set: %s\n", strings.Join(t.Sets, ", "))
	}
	for _, p := range t.Plugins {
		fmt.Fprintf(c.stdout, "  plugin %s: %s (sha256 %s)\n", p.Name, p.Path, p.SHA256)
	}
	return nil
}

func (c *cli) listTrusted() error {
	list, err := trust.List(c.getenv)
	if err != nil {
		return plainError(err)
	}
	return c.buffered(func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tSHA256\tPLUGINS\tSTATUS")
		for _, e := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", e.Path, e.SHA256[:12], len(e.Plugins), e.Status)
		}
		return tw.Flush()
	})
}

// loadConfig finds and reads the configuration, with the trust rules of package trust.
func (c *cli) loadConfig(cwd string) (*config.Config, error) {
	cfg, err := trust.Load(c.configPath, cwd, c.getenv)
	if err != nil {
		return nil, plainError(err)
	}
	return cfg, nil
}

// plainError keeps an error's one line and its hint, if it has one, and drops its type: a bad
// configuration file is a failure (1), not a misuse of the command line (2), even when what is wrong
// is a name in it.
func plainError(err error) error {
	e := errors.New(err.Error())
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return withHint(e, h.Hint())
	}
	return e
}
