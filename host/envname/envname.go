// Package envname holds the rules for the names of the environment variables
// a task's secrets go to: the Flyte SDK's syntax for as_env_var, the SDK's
// default name, and the names flyte never sets. The configuration checks a
// request with them when it loads, and the injector-plan check applies them
// again to what a plugin proposes, so the two can never disagree.
package envname

import (
	"regexp"
	"strings"
)

// Pattern is the Flyte SDK's rule for as_env_var.
var Pattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// Valid reports whether name matches Pattern.
func Valid(name string) bool { return Pattern.MatchString(name) }

// Default is the variable the SDK uses for a secret that asks for neither
// as_env_var nor mount: GROUP_KEY or KEY, upper-cased, "-" as "_".
func Default(group, key string) string {
	name := key
	if group != "" {
		name = group + "_" + key
	}
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Why a name is denied.
const (
	whyLoader = "it controls how programs are found, loaded or interpreted"
	whyFlyte  = "FLYTE_ variables are flyte's own"
)

// denied are variables that control how programs are found, loaded or
// interpreted: setting one runs code of the setter's choosing.
var denied = map[string]bool{
	"PATH": true, "BASH_ENV": true, "ENV": true, "SHELLOPTS": true, "BASHOPTS": true, "PS4": true,
	"IFS": true, "CDPATH": true, "GLOBIGNORE": true, "PROMPT_COMMAND": true, "HOME": true, "SHELL": true,
	"TMPDIR": true, "PYTHONPATH": true, "PYTHONHOME": true, "PYTHONSTARTUP": true, "PYTHONINSPECT": true,
	"NODE_OPTIONS": true, "NODE_PATH": true, "PERL5LIB": true, "PERL5OPT": true, "PERLLIB": true,
	"RUBYOPT": true, "RUBYLIB": true, "GCONV_PATH": true, "LOCPATH": true, "NLSPATH": true,
	"HOSTALIASES": true, "RES_OPTIONS": true, "LOCALDOMAIN": true, "JAVA_TOOL_OPTIONS": true,
	"_JAVA_OPTIONS": true, "JDK_JAVA_OPTIONS": true, "CLASSPATH": true, "GIT_SSH_COMMAND": true,
	"GIT_EXEC_PATH": true, "EDITOR": true, "VISUAL": true, "PAGER": true,
	// Programs and configuration that git, ssh, sudo, less, Lua, OpenSSL, Go, npm and shells run or read.
	"GIT_ASKPASS": true, "SSH_ASKPASS": true, "SUDO_ASKPASS": true, "GIT_SSH": true, "GIT_PROXY_COMMAND": true,
	"GIT_EXTERNAL_DIFF": true, "GIT_PAGER": true, "GIT_EDITOR": true, "GIT_SEQUENCE_EDITOR": true,
	"GIT_TEMPLATE_DIR": true, "GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_COMMON_DIR": true,
	"MANPAGER": true, "BROWSER": true, "LESSOPEN": true, "LESSCLOSE": true, "OPENSSL_CONF": true,
	"OPENSSL_ENGINES": true, "GOFLAGS": true, "GOTOOLCHAIN": true, "GOENV": true, "CC": true, "CXX": true,
	"XDG_CONFIG_HOME": true, "XDG_CONFIG_DIRS": true, "ZDOTDIR": true, "PYTHONUSERBASE": true,
	"PYTHONEXECUTABLE": true, "PYTHONBREAKPOINT": true,
}

// deniedPrefixes deny every name that starts with one of them.
var deniedPrefixes = []string{"LD_", "DYLD_", "MALLOC_", "GLIBC_", "GIT_CONFIG_", "LUA_INIT", "NPM_CONFIG_", "CGO_", "FLYTE_"}

// Denied reports whether a secret may never be put in the variable name.
// rule is the entry of flyte's list that name matches, safe to show
// whatever name is: the name itself for a listed name ("PATH"), the prefix
// and a star for a listed prefix ("LD_*"). why says what the entry is for.
func Denied(name string) (rule, why string, ok bool) {
	if denied[name] {
		return name, whyLoader, true
	}
	for _, p := range deniedPrefixes {
		if strings.HasPrefix(name, p) {
			if p == "FLYTE_" {
				return p + "*", whyFlyte, true
			}
			return p + "*", whyLoader, true
		}
	}
	return "", "", false
}
