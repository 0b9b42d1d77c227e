package main

import (
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
