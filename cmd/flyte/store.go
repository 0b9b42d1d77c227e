package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/state"
	"github.com/spf13/pflag"
)

// The team-keys commands: who can open a store's data key.

const teamLong = `
A store's data key is wrapped to each of its recipients (age identities, with
a label), in an envelope vouched for by the recipient who last changed it.
A machine uses an envelope made by someone else only once that person is
accepted on it, explicitly, with 'flyte store accept'.`

var cmdStoreRecipientsList = &command{
	Name:      "store recipients list",
	UsageLine: "[-of json]",
	Short:     "list who can open the store's data key",
	Long: `
Store recipients list prints the store's recipients: label and age recipient,
(you) for your identity and (vouched) for the recipient who made the current
envelope, the envelope's epoch, and whether a re-seal under a new data key is
unfinished.
` + teamLong + `

Example:
  flyte store recipients list
  flyte -of json store recipients list`,
	Run: (*cli).storeRecipientsList,
}

var cmdStoreRecipientsAdd = &command{
	Name:      "store recipients add",
	UsageLine: "AGE_RECIPIENT --label NAME",
	Short:     "let a teammate's identity open the store",
	Long: `
Store recipients add wraps the store's data key to one more age recipient
(what 'flyte identity' prints on the teammate's machine), labelled NAME (1 to
64 letters, digits and . _ @ + -). The teammate then accepts you once on
their machine with the command it prints.
` + teamLong + `

Example:
  flyte store recipients add age1... --label bob@laptop`,
	Flags: labelFlag,
	Run:   (*cli).storeRecipientsAdd,
}

var cmdStoreRecipientsRemove = &command{
	Name:      "store recipients remove",
	UsageLine: "AGE_RECIPIENT",
	Short:     "remove an identity and re-seal every value under a new key",
	Long: `
Store recipients remove takes an age recipient off the store: a new data key
for the others, and every secret of every organization in the store sealed
again under it; then the store drops its history of old values (etcd
compacts). If it is interrupted, every value still opens for every remaining
recipient, and 'flyte store rekey' (or the same command) finishes it.

Removal protects values stored from then on only: the removed identity may
have seen every earlier value. flyte lists those secrets, to rotate at their
source.

Example:
  flyte store recipients remove age1...`,
	Run: (*cli).storeRecipientsRemove,
}

var cmdStoreRekey = &command{
	Name:      "store rekey",
	UsageLine: "",
	Short:     "re-seal every value under a new data key",
	Long: `
Store rekey gives the store a new data key for the same recipients and seals
every secret of every organization in the store again under it. When a
re-seal was interrupted, it finishes that one instead.

Example:
  flyte store rekey`,
	Run: (*cli).storeRekey,
}

var cmdStoreAccept = &command{
	Name:      "store accept",
	UsageLine: "AGE_RECIPIENT --label NAME",
	Short:     "trust a teammate's key to vouch for a store's data key",
	Long: `
Store accept records, on this machine, a teammate whose envelopes of a
store's data key flyte may use: the one a recipient added you with, or the
one who last changed the recipients. Check the recipient with them first: an
accepted key can hand this machine a data key of its choosing. It is kept in
keys/vouchers in flyte's state directory.

Example:
  flyte store accept age1... --label alice@laptop`,
	Flags: labelFlag,
	Run:   (*cli).storeAccept,
}

func labelFlag(c *cli, fs *pflag.FlagSet) {
	fs.String("label", "", "call the recipient `NAME` (letters, digits and . _ @ + -)")
}

// recipientArg parses the one AGE_RECIPIENT argument (never echoed).
func (c *cli) recipientArg(args []string) (seal.PublicKey, error) {
	if err := c.argCount(args, 1, 1, "AGE_RECIPIENT"); err != nil {
		return seal.PublicKey{}, err
	}
	pub, err := seal.ParsePublicKey(args[0])
	if err != nil {
		return seal.PublicKey{}, withHint(usagef("AGE_RECIPIENT is not an age X25519 recipient (age1...)"),
			"'flyte identity' prints one on the machine whose identity it is")
	}
	return pub, nil
}

// labelArg reads --label (required, never echoed when invalid).
func (c *cli) labelArg() (string, error) {
	label, _ := c.fs.GetString("label")
	switch {
	case label == "":
		return "", withHint(usagef("missing --label NAME"), "usage: "+c.cmd.usage())
	case !seal.ValidLabel(label):
		return "", usagef("invalid --label: 1 to %d letters, digits and . _ @ + -", seal.MaxLabel)
	}
	return label, nil
}

// teamError adds hints to the team-keys errors.
func (c *cli) teamError(err error) error {
	var fe *core.FenceError
	var locked *core.LockedError
	switch {
	case errors.As(err, &fe):
		return withHint(fmt.Errorf("store plugin %s: %w", c.cfg.Store.Plugin, err), "the built-in filestore and etcd stores speak it")
	case errors.As(err, &locked):
		return c.explain(err, "")
	case errors.Is(err, core.ErrUnfinished):
		return err
	}
	return err
}

type recipientJSON struct {
	Label     string `json:"label"`
	Recipient string `json:"recipient"`
	You       bool   `json:"you"`
	Vouched   bool   `json:"vouched"`
}

func (c *cli) storeRecipientsList(args []string) error {
	if err := c.argCount(args, 0, 0, ""); err != nil {
		return err
	}
	k, err := c.engine()
	if err != nil {
		return err
	}
	t, err := k.Recipients(c.ctx)
	if err != nil {
		return c.teamError(err)
	}
	return c.buffered(func(w io.Writer) error {
		if strings.HasPrefix(c.outputFormat, "json") {
			out := struct {
				StoreID    string          `json:"store_id"`
				Epoch      uint64          `json:"epoch"`
				Unfinished bool            `json:"unfinished_reseal"`
				Recipients []recipientJSON `json:"recipients"`
			}{StoreID: t.StoreID, Epoch: t.Epoch, Unfinished: t.Unfinished, Recipients: []recipientJSON{}}
			for _, r := range t.Members {
				out.Recipients = append(out.Recipients, recipientJSON{r.Label, r.Public.String(), r.Public == t.You, r.Public == t.Creator})
			}
			var b []byte
			if c.outputFormat == "json-raw" {
				b, err = json.Marshal(out)
			} else {
				b, err = json.MarshalIndent(out, "", "  ")
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "%s\n", b)
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LABEL\tRECIPIENT\t")
		for _, r := range t.Members {
			var marks []string
			if r.Public == t.You {
				marks = append(marks, "(you)")
			}
			if r.Public == t.Creator {
				marks = append(marks, "(vouched)")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Label, r.Public, strings.Join(marks, " "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "epoch %d, store id %s\n", t.Epoch, t.StoreID)
		if t.Unfinished {
			fmt.Fprintln(w, "a re-seal under a new data key is unfinished: run 'flyte store rekey' to finish it")
		}
		return nil
	})
}

func (c *cli) storeRecipientsAdd(args []string) error {
	pub, err := c.recipientArg(args)
	if err != nil {
		return err
	}
	label, err := c.labelArg()
	if err != nil {
		return err
	}
	k, err := c.engine()
	if err != nil {
		return err
	}
	t, err := k.AddRecipient(c.ctx, core.RecipientRequest{Recipient: pub, Label: label})
	if err != nil {
		return c.teamError(err)
	}
	fmt.Fprintf(c.stdout, "added %s (%s) to the store's recipients (epoch %d)\n", label, pub, t.Epoch)
	for _, r := range t.Members {
		if r.Public == t.You {
			fmt.Fprintf(c.stdout, "on their machine, after checking your key with you, they run: flyte store accept %s --label %s\n", r.Public, r.Label)
		}
	}
	return nil
}

func (c *cli) storeRecipientsRemove(args []string) error {
	pub, err := c.recipientArg(args)
	if err != nil {
		return err
	}
	k, err := c.engine()
	if err != nil {
		return err
	}
	res, err := k.RemoveRecipient(c.ctx, core.RecipientRequest{Recipient: pub})
	if err != nil {
		return c.teamError(err)
	}
	c.resealReport(res)
	if res.Removed == nil {
		fmt.Fprintf(c.stdout, "%s is no longer one of the store's recipients\n", pub)
		return nil
	}
	fmt.Fprintf(c.stdout, "removed %s (%s) from the store's recipients; %s re-sealed under a new data key (epoch %d)\n",
		res.Removed.Label, res.Removed.Public, plural(res.Resealed, "secret"), res.Epoch)
	c.rotateWarning(res.Removed.Label, res.Secrets)
	return nil
}

func (c *cli) storeRekey(args []string) error {
	if err := c.argCount(args, 0, 0, ""); err != nil {
		return err
	}
	k, err := c.engine()
	if err != nil {
		return err
	}
	res, err := k.Rekey(c.ctx)
	if err != nil {
		return c.teamError(err)
	}
	if res.Finished {
		fmt.Fprintf(c.stdout, "finished the unfinished re-seal: %s re-sealed under the data key of epoch %d\n", plural(res.Resealed, "secret"), res.Epoch)
		fmt.Fprintln(c.stderr, "flyte: warning: if that re-seal removed a recipient, they may have seen the values stored before it; 'flyte store recipients list' shows who remains")
	} else {
		fmt.Fprintf(c.stdout, "%s re-sealed under a new data key (epoch %d)\n", plural(res.Resealed, "secret"), res.Epoch)
	}
	c.resealReport(res)
	return nil
}

// resealReport prints what a re-seal left alone, and a failed compaction.
func (c *cli) resealReport(res *core.Rekeyed) {
	for _, d := range res.Damaged {
		fmt.Fprintf(c.stderr, "flyte: warning: secret %s (%s) was not re-sealed: %s\n", d.Key, scopeWithOrg(d.Scope), d.Reason)
	}
	if res.CompactErr != "" {
		fmt.Fprintf(c.stderr, "flyte: warning: the store did not drop its history of old values: %s\n", res.CompactErr)
	}
}

// rotateWarning lists the secrets a removed member may have seen.
func (c *cli) rotateWarning(label string, refs []core.SecretRef) {
	if len(refs) == 0 {
		return
	}
	fmt.Fprintf(c.stderr, "flyte: warning: %s may have seen every value stored before the removal (it protects future values only); rotate these %s at their source:\n",
		label, plural(len(refs), "secret"))
	for _, r := range refs {
		fmt.Fprintf(c.stderr, "flyte: warning:   %s (%s)\n", r.Key, scopeWithOrg(r.Scope))
	}
}

// scopeWithOrg names a scope with its organization: a re-seal covers
// every organization of the store.
func scopeWithOrg(s scope.Scope) string {
	out := "organization " + s.Org
	if s.Project != "" || s.Domain != "" {
		out += ", " + s.String()
	}
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (c *cli) storeAccept(args []string) error {
	pub, err := c.recipientArg(args)
	if err != nil {
		return err
	}
	label, err := c.labelArg()
	if err != nil {
		return err
	}
	var src = c.identitySource(nil)
	if c.identityVariable() == "" {
		cfg, err := c.config()
		if err != nil {
			return err
		}
		src = c.identitySource(cfg)
	}
	if err := core.Accept(core.Options{Identity: src, StateDir: state.Path(c.getenv)}, core.RecipientRequest{Recipient: pub, Label: label}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "accepted %s (%s): this machine uses the store data keys it vouches for\n", label, pub)
	return nil
}
