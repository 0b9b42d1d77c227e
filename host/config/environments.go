package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
)

// Default injectors for each way of asking for a secret.
const (
	DefaultEnvInjector  = "envinject"
	DefaultFileInjector = "fileinject"
)

// envVarPattern is the Flyte SDK's rule for as_env_var, with its words.
var envVarPattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// Environment is one [[environments]] entry: the Python SDK's
// flyte.TaskEnvironment(name=..., secrets=[...]), plus where it runs.
type Environment struct {
	Name    string
	Project string
	Domain  string
	Secrets []SecretRequest
}

// SecretRequest is one flyte.Secret(...) of an environment, after the SDK's
// defaults: exactly one of AsEnvVar and Mount is set.
type SecretRequest struct {
	Key      string
	Group    string
	AsEnvVar string
	Mount    string
	// Injector is the plugin that places this secret: the [inject] default
	// for its kind of request unless the entry names one.
	Injector string
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

// EnvironmentNames lists the configured environments, in file order.
func (c *Config) EnvironmentNames() []string {
	var out []string
	for _, e := range c.Environments {
		out = append(out, e.Name)
	}
	return out
}

// DefaultEnvVar is the variable the SDK uses for a secret that asks for
// neither as_env_var nor mount: GROUP_KEY or KEY, upper-cased, "-" as "_".
func DefaultEnvVar(group, key string) string {
	name := key
	if group != "" {
		name = group + "_" + key
	}
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

var environmentKeys = []string{"name", "project", "domain", "secrets"}
var secretKeys = []string{"key", "group", "as_env_var", "mount", "injector"}

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
			return d.errorf("setting %q: %w", key.String(), err)
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
	if !isList {
		return d.errorf("setting \"environments\" must be an array of tables ([[environments]]), not %s", typeName(v))
	}
	c.Environments = nil // a file's environments replace those of the configuration it is decoded over
	for i, t := range list {
		e, err := d.environment(i, t, c)
		if err != nil {
			return err
		}
		if _, dup := c.Environment(e.Name); dup {
			return d.errorf("environment %q is defined twice", e.Name)
		}
		c.Environments = append(c.Environments, e)
	}
	return nil
}

func (d *decoder) environment(i int, t map[string]any, c *Config) (Environment, error) {
	var e Environment
	where := fmt.Sprintf("environments[%d]", i+1)
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if !slices.Contains(environmentKeys, k) {
			return e, d.unknown("unknown setting in "+where, k, environmentKeys)
		}
	}
	name, ok, err := d.str(t, toml.Key{where, "name"})
	if err != nil {
		return e, err
	}
	if !ok {
		return e, d.errorf("%s has no name", where)
	}
	if err := scope.ValidateName("environment name", name); err != nil {
		return e, fmt.Errorf("%s: %w", d.path, err)
	}
	e.Name = name
	where = "environment " + name
	if e.Project, _, err = d.str(t, toml.Key{where, "project"}); err != nil {
		return e, err
	}
	if err := scope.ValidateProject(e.Project); err != nil {
		return e, d.errorf("%s: %w", where, err)
	}
	if e.Domain, _, err = d.str(t, toml.Key{where, "domain"}); err != nil {
		return e, err
	}
	if err := scope.ValidateDomain(e.Domain, c.Domains); err != nil {
		return e, d.errorf("%s: %w", where, err)
	}
	raw, ok := t["secrets"]
	if !ok {
		return e, nil
	}
	var items []any
	switch l := raw.(type) {
	case []any:
		items = l
	case []map[string]any:
		for _, m := range l {
			items = append(items, m)
		}
	case string:
		items = []any{l} // secrets = "key", as the SDK accepts a bare string
	default:
		return e, d.errorf("%s: secrets must be a list of keys or {key = ...} tables, not %s", where, typeName(raw))
	}
	targets := map[string]string{} // variable or file -> key, to catch two secrets aimed at one place
	for _, item := range items {
		s, err := d.secretRequest(where, item, c)
		if err != nil {
			return e, err
		}
		target := "environment variable " + s.AsEnvVar
		if s.Mount != "" {
			target = "file " + s.Mount + "/" + s.Key
		}
		if other, dup := targets[target]; dup {
			return e, d.errorf("%s: secrets %s and %s both go to %s", where, other, s.Key, target)
		}
		targets[target] = s.Key
		e.Secrets = append(e.Secrets, s)
	}
	return e, nil
}

func (d *decoder) secretRequest(where string, item any, c *Config) (SecretRequest, error) {
	var s SecretRequest
	var t map[string]any
	switch v := item.(type) {
	case string:
		t = map[string]any{"key": v}
	case map[string]any:
		t = v
	default:
		return s, d.errorf("%s: each secret must be a key or a {key = ...} table, not %s", where, typeName(item))
	}
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if !slices.Contains(secretKeys, k) {
			return s, d.unknown(where+": unknown secret setting", k, secretKeys)
		}
	}
	get := func(k string) (string, error) {
		v, _, err := d.str(t, toml.Key{where, "secrets", k})
		return v, err
	}
	var err error
	if s.Key, err = get("key"); err != nil {
		return s, err
	}
	if err := scope.ValidateKey(s.Key); err != nil {
		return s, d.errorf("%s: %w", where, err)
	}
	where += ": secret " + s.Key
	if s.Group, err = get("group"); err != nil {
		return s, err
	}
	if s.Group != "" {
		if err := scope.ValidateKey(s.Group); err != nil {
			return s, d.errorf("%s: invalid group: %w", where, err)
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
	switch {
	case hasEnv && hasMount:
		// The SDK silently prefers the variable; asking for both is
		// almost certainly a mistake.
		return s, d.errorf("%s: as_env_var and mount both given: ask for one", where)
	case hasMount:
		if s.Mount != abi.SecretsDir {
			return s, d.errorf("%s: Only /etc/flyte/secrets is supported as secret mount path today.", where)
		}
	default:
		if !hasEnv {
			s.AsEnvVar = DefaultEnvVar(s.Group, s.Key)
		}
		if !envVarPattern.MatchString(s.AsEnvVar) {
			return s, d.errorf("%s: Invalid environment variable name: %s, must match %s", where, s.AsEnvVar, envVarPattern)
		}
	}
	if s.Injector == "" {
		s.Injector = c.Inject.Env
		if s.Mount != "" {
			s.Injector = c.Inject.File
		}
	} else if err := scope.ValidateName("plugin name", s.Injector); err != nil {
		return s, d.errorf("%s: injector: %w", where, err)
	}
	return s, nil
}

// unknown reports, as msg, a setting that is not one of known, without repeating it (it failed
// validation), with a hint naming the known setting closest to it, if any.
func (d *decoder) unknown(msg, setting string, known []string) error {
	err := d.errorf("%s", msg)
	if s := closest(nil, setting, known); s != "" {
		return &hintError{msg: err.Error(), hint: "did you mean " + s + "?"}
	}
	return err
}
