package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// unknownFlagArg finds the argument pflag rejects, reading clusters and
// values as pflag does.
func TestUnknownFlagArg(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.StringP("project", "p", "", "")
	fs.StringP("output", "o", "", "")
	fs.Bool("resolve", false, "")
	fs.BoolP("help", "h", false, "")
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"KEY", "-xSECRET"}, 1},
		{[]string{"-pSECRET", "-x"}, 1},     // -p takes the rest of its cluster
		{[]string{"-p", "-x", "-y"}, 2},     // and else the next argument
		{[]string{"-hp", "v", "--nope"}, 2}, // a boolean then a value flag in one cluster
		{[]string{"-hx"}, 0},
		{[]string{"--project", "--nope", "--x"}, 2},
		{[]string{"--project=a", "--nope=SECRET"}, 1},
		{[]string{"--resolve", "--SECRET"}, 1},
		{[]string{"---x"}, 0},
		{[]string{"-=x"}, 0},
		{[]string{"-", "KEY", "--", "--nope"}, -1},
		{[]string{"KEY", "VALUE"}, -1},
	}
	for _, tt := range tests {
		if got := unknownFlagArg(fs, tt.args); got != tt.want {
			t.Errorf("unknownFlagArg(%q) = %d, want %d", tt.args, got, tt.want)
		}
	}
}

// rewriteOF turns flyte-sdk's -of into --output-format only where a flag
// stands: not as another flag's value, not after "--".
func TestRewriteOF(t *testing.T) {
	fs := (&command{Name: "x", Flags: func(c *cli, fs *pflag.FlagSet) {
		fs.StringVarP(&c.output, "output", "o", "", "")
		fs.StringVar(&c.secret.value, "value", "", "")
	}}).flagSet(&cli{})
	tests := []struct{ in, want []string }{
		{[]string{"-of", "json"}, []string{"--output-format", "json"}},
		{[]string{"-of=json", "KEY"}, []string{"--output-format=json", "KEY"}},
		{[]string{"--value", "-of", "-of", "x"}, []string{"--value", "-of", "--output-format", "x"}},
		{[]string{"-o", "-of"}, []string{"-o", "-of"}},
		{[]string{"-c", "-of", "-of", "table"}, []string{"-c", "-of", "--output-format", "table"}},
		{[]string{"--", "-of", "json"}, []string{"--", "-of", "json"}},
		{[]string{"-ofjson"}, []string{"-ofjson"}}, // pflag's -o with value "fjson", as before
		{[]string{"-vv", "-of", "json"}, []string{"-vv", "--output-format", "json"}},
	}
	for _, tt := range tests {
		if got := rewriteOF(fs, tt.in); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("rewriteOF(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// No flag's help shows pflag's "[=true|false]", and -of is listed.
func TestFlagUsages(t *testing.T) {
	for _, cmd := range commands {
		fs := cmd.flagSet(&cli{})
		u := flagUsages(fs, func(*pflag.Flag) bool { return true })
		if strings.Contains(u, "[=") {
			t.Errorf("%s: %s", cmd.Name, u)
		}
		if !strings.Contains(u, "  -of, --output-format FORMAT ") {
			t.Errorf("%s: no -of in\n%s", cmd.Name, u)
		}
	}
}
