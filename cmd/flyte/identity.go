package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/sanitize"
)

var cmdIdentity = &command{
	Name:      "identity",
	UsageLine: "",
	Short:     "print your age recipient, for a teammate to add",
	Long: `
Identity prints the age recipient (age1...) of your identity: the public half,
which a teammate adds to share a store with you. It prints nothing secret and
never creates an identity.

The identity is the age key that unwraps every store's data key. flyte takes
it from the first of these that is set:

  FLYTE_IDENTITY       the key itself (AGE-SECRET-KEY-1...), for CI
  FLYTE_IDENTITY_FILE  an identity file, checked like the default one
  FLYTE_IDENTITY_CMD   a command, run with /bin/sh -c, whose standard output
                       holds the key (a password manager); stopped after 30s
  [seal] identity      in flyte.toml; by default ~/.config/flyte/identity.txt

Only the last is ever created: by the first secret you create, with no
variable set. Back it up: without it, the store's secrets cannot be read. An
identity file must be a regular file of yours that only you can read or write
(mode 0600). A task never sees these variables, and its output masks the
identity. FLYTE_IDENTITY stays in the environment of the shell that set it
(and on macOS shows in ps eww): outside CI, prefer FLYTE_IDENTITY_FILE or
FLYTE_IDENTITY_CMD.

Example:
  flyte identity
  FLYTE_IDENTITY_CMD='pass show flyte/identity' flyte get secret`,
	Run: (*cli).identity,
}

// identityCmdTimeout bounds FLYTE_IDENTITY_CMD; tests shorten it.
var identityCmdTimeout = identity.CmdTimeout

func (c *cli) identity(args []string) error {
	if err := c.argCount(args, 0, 0, ""); err != nil {
		return err
	}
	var cfg *config.Config
	if c.identityVariable() == "" {
		var err error
		if cfg, err = c.config(); err != nil {
			return err
		}
	}
	src := c.identitySource(cfg)
	if c.verbose > 0 {
		fmt.Fprintf(c.stderr, "flyte: identity: %s\n", sanitize.Text(src.String()))
	}
	id, err := src.Load()
	if errors.Is(err, fs.ErrNotExist) {
		return withHint(fmt.Errorf("you have no identity yet: %s does not exist", src.File()),
			"flyte creates it with the first secret you create (flyte create secret KEY VALUE); to use one you have, restore it there or set FLYTE_IDENTITY_FILE")
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, id.Recipient())
	return nil
}

// identityVariable is the identity variable that is set, if any.
func (c *cli) identityVariable() string {
	for _, v := range identity.Variables {
		if c.getenv(v) != "" {
			return v
		}
	}
	return ""
}

// identitySource is where this invocation's identity comes from; cfg may
// be nil when a variable is set.
func (c *cli) identitySource(cfg *config.Config) *identity.Source {
	configured := ""
	if cfg != nil {
		configured = cfg.Seal.Identity
	}
	src := identity.Resolve(c.getenv, configured)
	src.Stdin, src.Stderr, src.Timeout = c.stdin, c.stderr, identityCmdTimeout
	src.Signaled = endBySignal
	return src
}

// endBySignal ends flyte as sig says, once FLYTE_IDENTITY_CMD, which flyte
// stopped on it, is gone: as if flyte had not caught it.
func endBySignal(sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return
	}
	signal.Reset(sig)
	_ = syscall.Kill(os.Getpid(), s)
	time.Sleep(time.Second) // the signal ends flyte meanwhile
	os.Exit(128 + int(s))
}

// useIdentity gives the core its identity source and keeps a file named by
// FLYTE_IDENTITY_FILE out of every plugin's reach, as the configured one is.
func (c *cli) useIdentity(cfg *config.Config, opts *core.Options) {
	opts.Identity = c.identitySource(cfg)
	if f := opts.Identity.File(); f != "" && f != cfg.Seal.Identity {
		opts.Protected = append(opts.Protected, grant.Protected{What: "the identity file", Path: f})
	}
}

// identityCreated tells the user, once, that this command created their
// identity: where it is, that it must be backed up, and how to share.
func (c *cli) identityCreated() {
	if c.core == nil {
		return
	}
	path, ok := c.core.Identity().Created()
	if !ok {
		return
	}
	fmt.Fprint(c.stderr, identityNotice(path))
}

// identityNotice is what identityCreated says.
func identityNotice(path string) string {
	return "flyte: created your identity: " + path + "\n" +
		"flyte: back it up: without it, the store's secrets cannot be read\n" +
		"flyte: 'flyte identity' prints your recipient (age1...), which a teammate adds to share a store with you\n"
}

// lockedHint is the hint for a store the identity does not unlock, when an
// identity variable overrides [seal] identity; "" otherwise.
func (c *cli) lockedHint() string {
	if v := c.identityVariable(); v != "" {
		return v + " is set, and overrides [seal] identity: give it the identity this store was created with, or unset it"
	}
	return ""
}
