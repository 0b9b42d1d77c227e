package config

// DeclaredSecret is a secret as a task file declares it (package pytask
// reads it): a bare key (String), or flyte.Secret(...) with the arguments
// given (nil: not given, or None).
type DeclaredSecret struct {
	Key      string
	Group    *string
	AsEnvVar *string
	Mount    *string
	String   bool
	// At is where it is declared, FILE:LINE, for messages.
	At string
}

// DeclaredEnvironment applies to an environment a task file declares,
// flyte.TaskEnvironment(name=..., secrets=[...]) at site (FILE:LINE), the
// rules an [[environments]] entry of flyte.toml goes through: the SDK's
// (default variable names, the one mount path, valid names, its error
// words) and flyte's (variables flyte never sets, two secrets aimed at one
// place), with the SDK's reading where a task file is the SDK's own: an
// empty group, as_env_var or mount is not given, and as_env_var with mount
// is the variable alone, with a warning (returned). Secrets go through the
// configuration's [inject] injectors. Project and domain are left empty.
func (c *Config) DeclaredEnvironment(name, site string, secrets []DeclaredSecret) (*Environment, []string, error) {
	d := &decoder{path: site, sites: map[loc]string{"": site}, sdk: true}
	items := make([]any, len(secrets))
	for i, s := range secrets {
		d.sites[at("environments", 0, "secrets", i)] = s.At
		if s.String {
			items[i] = s.Key
			continue
		}
		t := map[string]any{"key": s.Key}
		for k, v := range map[string]*string{"group": s.Group, "as_env_var": s.AsEnvVar, "mount": s.Mount} {
			if v != nil && *v != "" { // the SDK tests each for truth
				t[k] = *v
			}
		}
		items[i] = t
	}
	tree := map[string]any{"name": name, "secrets": items}
	e, err := d.environment(0, tree, c)
	if err != nil {
		return nil, d.warnings, err
	}
	return &e, d.warnings, nil
}
