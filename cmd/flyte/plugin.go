package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/core"
)

// version is the flyte release; set with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// nativeStore is set only in benchmark builds (-tags flytenative).
var nativeStore func(dir string) core.Store

var cmdPluginList = &command{
	Name:      "plugin list",
	UsageLine: "",
	Short:     "list the plugins",
	Long: `
Plugin list loads every built-in plugin and every plugin configured under
[plugins.NAME] in flyte.toml, and shows its kind, the ABI version it speaks,
its version, size and SHA-256 (what [plugins.NAME] sha256 pins). A plugin that
fails to load is listed with the reason, and the command exits with status 1.`,
	Run: func(c *cli, args []string) error {
		if err := c.argCount(args, 0, 0, ""); err != nil {
			return err
		}
		k, err := c.engine()
		if err != nil {
			return err
		}
		var failed []error
		err = c.buffered(func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tABI\tVERSION\tSIZE\tSHA256\tSOURCE")
			for _, p := range k.Plugins(c.ctx) {
				if p.Err != nil {
					failed = append(failed, p.Err)
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t(failed to load)\n", p.Name)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p.Name, p.Kind, p.ABI, p.Info.Version, p.Size, p.SHA256, p.Source)
			}
			return tw.Flush()
		})
		if err != nil {
			return err
		}
		for _, err := range failed {
			c.printError(err)
		}
		if len(failed) > 0 {
			return errReported
		}
		return nil
	},
}

var cmdVersion = &command{
	Name:      "version",
	UsageLine: "",
	Short:     "print version information",
	Long:      "Version prints flyte's version, the plugin ABI it speaks, and what it was built with.",
	Run: func(c *cli, args []string) error {
		if err := c.argCount(args, 0, 0, ""); err != nil {
			return err
		}
		wz := "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				if d.Path == "github.com/tetratelabs/wazero" {
					wz = d.Version
				}
			}
		}
		fmt.Fprintf(c.stdout, "flyte %s (plugin ABI v%d.%d, wazero %s, %s %s/%s)\n",
			version, abi.Version, abi.Minor, wz, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	},
}
