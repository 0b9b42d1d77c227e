package config

import (
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/envname"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secretfile"
)

// Default injectors for each way of asking for a secret.
const (
	DefaultEnvInjector  = "envinject"
	DefaultFileInjector = "fileinject"
)

// Environment is one [[environments]] entry: the Python SDK's
// flyte.TaskEnvironment(name=..., secrets=[...]), plus where it runs.
type Environment struct {
	Name    string
	Project string
	Domain  string
	Secrets []SecretRequest
	// Render are the outputs injectors render from several secrets
	// ([[environments.render]]), in file order.
	Render []RenderOutput
	// File is where it is defined: the configuration file, or FILE:LINE
	// of a task file's TaskEnvironment (DeclaredEnvironment).
	File string
}

// RenderOutput is one [[environments.render]] entry: a file or variable
// that an injector fills from a template of literal text and some of the
// environment's secrets. The user chooses the name, the mode and the
// secrets; the injector only the template. Exactly one of File and Env is
// set.
type RenderOutput struct {
	// File is a base name directly under abi.SecretsDir.
	File string
	// Env is an environment variable's name.
	Env string
	// Mode is File's mode; 0 means secretfile.DefaultMode.
	Mode fs.FileMode
	// Injector renders the output.
	Injector string
	// Secrets are the keys of the environment's secrets it may use, each
	// once, in the order the file lists them.
	Secrets []string
}

// Name is where the output goes, for messages: the file's path under
// abi.SecretsDir, or the variable.
func (o *RenderOutput) Name() string {
	if o.File != "" {
		return abi.SecretsDir + "/" + o.File
	}
	return o.Env
}

// SecretRequest is one flyte.Secret(...) of an environment, after the SDK's
// defaults: exactly one of AsEnvVar and Mount is set.
type SecretRequest struct {
	Key      string
	Group    string
	AsEnvVar string
	Mount    string
	// Injector is the plugin that places this secret: the [inject] default
	// for its kind of request unless the entry names one; "" when the secret
	// is not delivered.
	Injector string
	// RenderOnly is deliver = false: the secret goes into render outputs
	// only, to no variable or file of its own (AsEnvVar and Mount are "").
	RenderOnly bool
}

// InjectConfig is the [inject] table: which injector serves which kind of
// request by default.
type InjectConfig struct {
	Env  string
	File string
}

// Environment returns the named environment.
func (c *Config) Environment(name string) (*Environment, bool) {
	for i := range c.Environments {
		if c.Environments[i].Name == name {
			return &c.Environments[i], true
		}
	}
	return nil, false
}

// Files lists the files under abi.SecretsDir a task of the environment gets:
// each mounted secret's (named by its key), then each rendered file.
func (e *Environment) Files() []string {
	var out []string
	for _, s := range e.Secrets {
		if s.Mount != "" {
			out = append(out, s.Key)
		}
	}
	for _, o := range e.Render {
		if o.File != "" {
			out = append(out, o.File)
		}
	}
	return out
}

// EnvironmentNames lists the configured environments, in file order.
func (c *Config) EnvironmentNames() []string {
	var out []string
	for _, e := range c.Environments {
		out = append(out, e.Name)
	}
	return out
}

var environmentKeys = []string{"name", "project", "domain", "secrets", "render"}
var secretKeys = []string{"key", "group", "as_env_var", "mount", "injector", "deliver"}

func (d *decoder) inject(t map[string]any, c *Config) error {
	for _, k := range []string{"env", "file"} {
		key := toml.Key{"inject", k}
		name, ok, err := d.str(t, key)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := scope.ValidateName("plugin name", name); err != nil {
			return d.valueErrorf(keyLoc(key), "setting %q: %w", key.String(), err)
		}
		if k == "env" {
			c.Inject.Env = name
		} else {
			c.Inject.File = name
		}
	}
	return nil
}

// environments decodes [[environments]]; it runs after domains and
// [inject], which it depends on.
func (d *decoder) environments(tree map[string]any, c *Config) error {
	v, ok := tree["environments"]
	if !ok {
		return nil
	}
	list, isList := v.([]map[string]any)
	if items, ok := v.([]any); ok && len(items) > 0 {
		// environments = [{ ... }, ...]: the same tables, written inline.
		for _, item := range items {
			t, isTable := item.(map[string]any)
			if !isTable {
				list = nil
				break
			}
			list = append(list, t)
		}
		isList = list != nil
	}
	if !isList {
		return d.valueErrorf(at("environments"), "setting \"environments\" must be an array of tables ([[environments]]), not %s", TypeName(v))
	}
	c.Environments = nil // a file's environments replace those of the configuration it is decoded over
	for i, t := range list {
		e, err := d.environment(i, t, c)
		if err != nil {
			return err
		}
		if _, dup := c.Environment(e.Name); dup {
			return d.valueErrorf(at("environments", i, "name"), "environment %q is defined twice", e.Name)
		}
		c.Environments = append(c.Environments, e)
	}
	return nil
}

// environment decodes the i-th (from 0) [[environments]] table, t.
func (d *decoder) environment(i int, t map[string]any, c *Config) (Environment, error) {
	var e Environment
	base := at("environments", i)
	where := fmt.Sprintf("environments[%d]", i+1)
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if !slices.Contains(environmentKeys, k) {
			return e, d.unknown(at(base, k), "unknown setting in "+where, k, environmentKeys)
		}
	}
	str := func(k string) (string, bool, error) { return d.strIn(t, base, where, k) }
	name, ok, err := str("name")
	if err != nil {
		return e, err
	}
	if !ok {
		return e, d.keyErrorf(base, "%s has no name", where)
	}
	if err := scope.ValidateName("environment name", name); err != nil {
		return e, d.wrap(at(base, "name"), err)
	}
	e.Name = name
	e.File = d.path
	if d.sites != nil {
		e.File = d.at(base, false)
	}
	where = "environment " + name
	if e.Project, _, err = str("project"); err != nil {
		return e, err
	}
	if err := scope.ValidateProject(e.Project); err != nil {
		return e, d.valueErrorf(at(base, "project"), "%s: %w", where, err)
	}
	if e.Domain, _, err = str("domain"); err != nil {
		return e, err
	}
	if err := scope.ValidateDomain(e.Domain, c.Domains); err != nil {
		return e, d.valueErrorf(at(base, "domain"), "%s: %w", where, err)
	}
	raw, ok := t["secrets"]
	if !ok {
		return e, d.renders(base, where, t, &e)
	}
	list := at(base, "secrets")
	var items []any
	var locs []loc
	switch l := raw.(type) {
	case []any:
		items = l
	case []map[string]any:
		for _, m := range l {
			items = append(items, m)
		}
	case string:
		items, locs = []any{l}, []loc{list} // secrets = "key", as the SDK accepts a bare string
	default:
		return e, d.valueErrorf(list, "%s: secrets must be a list of keys or {key = ...} tables, not %s", where, TypeName(raw))
	}
	for j := range items {
		if locs == nil || j > 0 {
			locs = append(locs, at(list, j))
		}
	}
	targets := map[string]string{} // variable or file -> key, to catch two secrets aimed at one place
	for j, item := range items {
		s, err := d.secretRequest(where, locs[j], item, c)
		if err != nil {
			return e, err
		}
		if s.RenderOnly {
			e.Secrets = append(e.Secrets, s)
			continue
		}
		target := "environment variable " + s.AsEnvVar
		if s.Mount != "" {
			target = "file " + s.Mount + "/" + s.Key
		}
		if other, dup := targets[target]; dup {
			return e, d.keyErrorf(locs[j], "%s: secrets %s and %s both go to %s", where, other, s.Key, target)
		}
		targets[target] = s.Key
		e.Secrets = append(e.Secrets, s)
	}
	if err := d.renders(base, where, t, &e); err != nil {
		return e, err
	}
	for j, s := range e.Secrets {
		if s.RenderOnly && !slices.ContainsFunc(e.Render, func(o RenderOutput) bool { return slices.Contains(o.Secrets, s.Key) }) {
			return e, d.keyErrorf(at(locs[j], "deliver"), "%s: secret %s has deliver = false, but no render output uses it", where, s.Key)
		}
	}
	return e, nil
}

// strIn returns the string t has at k; base is t's place, where names it for messages.
func (d *decoder) strIn(t map[string]any, base loc, where, k string) (string, bool, error) {
	v, ok := t[k]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, d.valueErrorf(at(base, k), "%s: %s must be a string, not %s", where, k, TypeName(v))
	}
	return s, true, nil
}

// secretRequest decodes one item of an environment's secrets, at p: a key, or a {key = ...} table.
func (d *decoder) secretRequest(where string, p loc, item any, c *Config) (SecretRequest, error) {
	var s SecretRequest
	var t map[string]any
	keyAt := at(p, "key") // where the key is written
	switch v := item.(type) {
	case string:
		t, keyAt = map[string]any{"key": v}, p
	case map[string]any:
		t = v
	default:
		return s, d.keyErrorf(p, "%s: each secret must be a key or a {key = ...} table, not %s", where, TypeName(item))
	}
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if !slices.Contains(secretKeys, k) {
			return s, d.unknown(at(p, k), where+": unknown secret setting", k, secretKeys)
		}
	}
	get := func(k string) (string, error) {
		v, _, err := d.strIn(t, p, where, k)
		return v, err
	}
	var err error
	if _, ok := t["key"]; !ok {
		return s, d.keyErrorf(p, "%s: a secret has no key", where)
	}
	if s.Key, err = get("key"); err != nil {
		return s, err
	}
	if err := scope.ValidateKey(s.Key); err != nil {
		return s, d.valueErrorf(keyAt, "%s: %w", where, err)
	}
	where += ": secret " + s.Key
	if s.Group, err = get("group"); err != nil {
		return s, err
	}
	if s.Group != "" {
		if err := scope.ValidateKey(s.Group); err != nil {
			return s, d.valueErrorf(at(p, "group"), "%s: invalid group: %w", where, err)
		}
	}
	if s.AsEnvVar, err = get("as_env_var"); err != nil {
		return s, err
	}
	if s.Mount, err = get("mount"); err != nil {
		return s, err
	}
	if s.Injector, err = get("injector"); err != nil {
		return s, err
	}
	_, hasEnv := t["as_env_var"]
	_, hasMount := t["mount"]
	if v, ok := t["deliver"]; ok {
		deliver, isBool := v.(bool)
		if !isBool {
			return s, d.valueErrorf(at(p, "deliver"), "%s: deliver must be a boolean, not %s", where, TypeName(v))
		}
		if !deliver {
			for _, k := range []string{"as_env_var", "mount", "injector"} {
				if _, ok := t[k]; ok {
					return s, d.keyErrorf(at(p, k), "%s: %s and deliver = false both given: a secret that is not delivered goes only into render outputs", where, k)
				}
			}
			s.RenderOnly = true
			return s, nil
		}
	}
	if hasEnv && hasMount && d.sdk {
		// A task file is the SDK's: it checks the mount path, then
		// delivers the variable only. So does flyte, and says so.
		if s.Mount != abi.SecretsDir {
			return s, d.valueErrorf(at(p, "mount"), "%s: Only %s is supported as secret mount path today.", where, abi.SecretsDir)
		}
		d.warnings = append(d.warnings, fmt.Sprintf("%s: %s: as_env_var and mount both given: delivered as the variable only, as the Flyte SDK does (no file %s/%s)",
			d.at(p, false), where, abi.SecretsDir, s.Key))
		hasMount, s.Mount = false, ""
	}
	switch {
	case hasEnv && hasMount:
		// The SDK silently prefers the variable; asking for both is
		// almost certainly a mistake.
		return s, d.keyErrorf(p, "%s: as_env_var and mount both given: ask for one", where)
	case hasMount:
		if s.Mount != abi.SecretsDir {
			return s, d.valueErrorf(at(p, "mount"), "%s: Only %s is supported as secret mount path today.", where, abi.SecretsDir)
		}
	case hasEnv:
		if err := d.envVar(at(p, "as_env_var"), where, "as_env_var", s.AsEnvVar); err != nil {
			return s, err
		}
	default:
		s.AsEnvVar = envname.Default(s.Group, s.Key)
		if err := d.envVar(keyAt, where, "its default variable name ("+defaultRule(s.Group)+")", s.AsEnvVar); err != nil {
			return s, err
		}
	}
	if s.Injector == "" {
		s.Injector = c.Inject.Env
		if s.Mount != "" {
			s.Injector = c.Inject.File
		}
	} else if err := scope.ValidateName("plugin name", s.Injector); err != nil {
		return s, d.valueErrorf(at(p, "injector"), "%s: injector: %w", where, err)
	}
	return s, nil
}

// defaultRule says how the SDK names a secret's variable.
func defaultRule(group string) string {
	if group != "" {
		return "GROUP_KEY upper-cased"
	}
	return "the key upper-cased"
}

// envVar checks name, the variable a secret goes to (what names it, for messages), at p: the SDK's
// syntax, and envname's list of variables flyte never sets. An invalid name is not repeated; a denied
// one is shown as the entry of the list it matches.
func (d *decoder) envVar(p loc, where, what, name string) error {
	return d.envName(p, where, what, name, fmt.Sprintf("choose another name with as_env_var, or ask for a file with mount = %q", abi.SecretsDir))
}

// envName is envVar with the hint given.
func (d *decoder) envName(p loc, where, what, name, hint string) error {
	if !envname.Valid(name) {
		err := d.valueErrorf(p, "%s: %s is not a valid environment variable name: it must match %s", where, what, envname.Pattern)
		return &hintError{msg: err.Error(), hint: hint}
	}
	if rule, why, denied := envname.Denied(name); denied {
		err := d.valueErrorf(p, "%s: %s is a variable flyte never sets (%s): %s", where, what, rule, why)
		return &hintError{msg: err.Error(), hint: hint}
	}
	return nil
}

// unknown reports, at p, a setting that is not one of known, without repeating it (it failed
// validation), with a hint naming the known setting closest to it, if any.
func (d *decoder) unknown(p loc, msg, setting string, known []string) error {
	err := d.keyErrorf(p, "%s", msg)
	if s := closest(nil, setting, known); s != "" {
		return &hintError{msg: err.Error(), hint: "did you mean " + s + "?"}
	}
	return err
}

var renderKeys = []string{"file", "env", "injector", "secrets", "mode"}

// renders decodes the render outputs of the environment e (at base, where names it for messages, t its
// table), after its secrets: each names a file or a variable that no secret and no other output goes to,
// an injector, and secrets of e, and a file may have a mode.
func (d *decoder) renders(base loc, where string, t map[string]any, e *Environment) error {
	raw, ok := t["render"]
	if !ok {
		return nil
	}
	list := at(base, "render")
	var items []map[string]any
	switch l := raw.(type) {
	case []map[string]any:
		items = l
	case []any:
		for _, item := range l {
			m, isTable := item.(map[string]any)
			if !isTable {
				return d.valueErrorf(at(list, len(items)), "%s: each render output must be a table, not %s", where, TypeName(item))
			}
			items = append(items, m)
		}
	default:
		return d.valueErrorf(list, "%s: render must be an array of tables ([[environments.render]]), not %s", where, TypeName(raw))
	}
	// Where each secret already goes: a variable, or a file under abi.SecretsDir named by its key.
	taken := map[string]string{}
	for _, s := range e.Secrets {
		switch {
		case s.RenderOnly:
		case s.Mount != "":
			taken["file "+s.Key] = "secret " + s.Key
		default:
			taken["variable "+s.AsEnvVar] = "secret " + s.Key
		}
	}
	for j, item := range items {
		o, err := d.render(at(list, j), fmt.Sprintf("%s: render output %d", where, j+1), item, e)
		if err != nil {
			return err
		}
		target, p := "variable "+o.Env, at(list, j, "env")
		if o.File != "" {
			target, p = "file "+o.File, at(list, j, "file")
		}
		if other, dup := taken[target]; dup {
			return d.valueErrorf(p, "%s: render output %d goes to %s, where %s already goes", where, j+1, target, other)
		}
		taken[target] = fmt.Sprintf("render output %d", j+1)
		e.Render = append(e.Render, o)
	}
	return nil
}

// render decodes one render output at p (where names it) of e.
func (d *decoder) render(p loc, where string, t map[string]any, e *Environment) (RenderOutput, error) {
	var o RenderOutput
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if !slices.Contains(renderKeys, k) {
			return o, d.unknown(at(p, k), where+": unknown render setting", k, renderKeys)
		}
	}
	str := func(k string) (string, bool, error) { return d.strIn(t, p, where, k) }
	file, hasFile, err := str("file")
	if err != nil {
		return o, err
	}
	env, hasEnv, err := str("env")
	if err != nil {
		return o, err
	}
	switch {
	case hasFile && hasEnv:
		return o, d.keyErrorf(p, "%s: file and env both given: an output is one file or one variable", where)
	case hasFile:
		file = strings.TrimPrefix(file, abi.SecretsDir+"/")
		if !secretfile.ValidName(file) {
			return o, d.valueErrorf(at(p, "file"), "%s: file must be the name of a file directly under %s: letters, digits, '-', '_' and '.', not starting with '.'", where, abi.SecretsDir)
		}
		o.File = file
		where += " (file " + file + ")"
	case hasEnv:
		hint := "choose another name with env, or render a file with file = \"NAME\""
		if err := d.envName(at(p, "env"), where, "env", env, hint); err != nil {
			return o, err
		}
		o.Env = env
		where += " (variable " + env + ")"
	default:
		return o, d.keyErrorf(p, "%s: has neither file nor env: say where it goes", where)
	}
	if v, ok := t["mode"]; ok {
		m, err := d.mode(at(p, "mode"), where, v)
		if err != nil {
			return o, err
		}
		if o.Env != "" {
			return o, d.keyErrorf(at(p, "mode"), "%s: mode is for a file, not a variable", where)
		}
		o.Mode = m
	}
	injector, ok, err := str("injector")
	if err != nil {
		return o, err
	}
	if !ok {
		return o, d.keyErrorf(p, "%s: has no injector: name the plugin that renders it", where)
	}
	if err := scope.ValidateName("plugin name", injector); err != nil {
		return o, d.valueErrorf(at(p, "injector"), "%s: injector: %w", where, err)
	}
	o.Injector = injector
	keys, err := d.renderSecrets(at(p, "secrets"), where, t["secrets"], e)
	if err != nil {
		return o, err
	}
	if len(keys) == 0 {
		return o, d.keyErrorf(p, "%s: has no secrets: list the environment's secrets it may use", where)
	}
	o.Secrets = keys
	return o, nil
}

// renderSecrets decodes an output's secrets = [...] at p: keys of e's secrets, each once.
func (d *decoder) renderSecrets(p loc, where string, v any, e *Environment) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, isList := v.([]any)
	if !isList {
		return nil, d.valueErrorf(p, "%s: secrets must be a list of the environment's secret keys, not %s", where, TypeName(v))
	}
	var keys []string
	for i, item := range list {
		k, isStr := item.(string)
		if !isStr {
			return nil, d.valueErrorf(at(p, i), "%s: item %d of secrets must be a secret's key (a string), not %s", where, i+1, TypeName(item))
		}
		if err := scope.ValidateKey(k); err != nil {
			return nil, d.valueErrorf(at(p, i), "%s: %w", where, err)
		}
		n := 0
		for _, s := range e.Secrets {
			if s.Key == k {
				n++
			}
		}
		switch {
		case n == 0:
			return nil, d.valueErrorf(at(p, i), "%s: secret %s is not one of the environment's secrets", where, k)
		case n > 1:
			return nil, d.valueErrorf(at(p, i), "%s: secret %s is asked for more than once in the environment, so which one is meant is unclear", where, k)
		case slices.Contains(keys, k):
			return nil, d.valueErrorf(at(p, i), "%s: lists secret %s twice", where, k)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// mode decodes a file mode at p: an octal string ("0400") or an integer (0o400), within
// secretfile.MaxMode.
func (d *decoder) mode(p loc, where string, v any) (fs.FileMode, error) {
	bad := func() error {
		return d.valueErrorf(p, "%s: mode must be an octal file mode no wider than %04o, such as \"0400\"", where, secretfile.MaxMode)
	}
	var m uint64
	switch x := v.(type) {
	case string:
		n, err := strconv.ParseUint(x, 8, 32)
		if err != nil || len(x) == 0 || len(x) > 4 {
			return 0, bad()
		}
		m = n
	case int64:
		if x < 0 {
			return 0, bad()
		}
		m = uint64(x)
	default:
		return 0, d.valueErrorf(p, "%s: mode must be a string such as \"0400\", not %s", where, TypeName(v))
	}
	if m == 0 || m > 0o777 || !secretfile.ValidMode(uint32(m)) {
		return 0, bad()
	}
	return fs.FileMode(m), nil
}
