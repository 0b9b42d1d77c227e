package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flytesecrets/flyte/host/dockercfg"
	"golang.org/x/term"
)

// imagePull builds an image_pull secret's value, flyte-sdk's docker config
// JSON, from --from-docker-config or from --registry, --username and
// --password, asking on a terminal for what is missing. No registry,
// username or password that fails validation is repeated.
func (c *cli) imagePull() ([]byte, error) {
	f := &c.secret
	if f.fromDockerConfig {
		return c.fromDockerConfig()
	}
	tty := c.terminal()
	registry, err := c.credential(tty, "registry", f.registry, "Registry (e.g., ghcr.io, docker.io): ", dockercfg.ValidateRegistry)
	if err != nil {
		return nil, err
	}
	username, err := c.credential(tty, "username", f.username, "Username: ", dockercfg.ValidateUsername)
	if err != nil {
		return nil, err
	}
	var password []byte
	switch {
	case c.fs.Changed("password"):
		password = []byte(f.password)
	case tty != nil:
		fmt.Fprint(c.stderr, "Password: ")
		password, err = term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return nil, fmt.Errorf("cannot read the password from the terminal: %w", err)
		}
	default: // a pipe, as docker login --password-stdin
		if password, err = c.readStdin(); err != nil {
			return nil, err
		}
	}
	defer clear(password)
	if err := dockercfg.ValidatePassword(password); err != nil {
		if c.fs.Changed("password") {
			return nil, flagInvalid(err, "--password")
		}
		return nil, err
	}
	return dockercfg.FromCredentials(registry, username, password), nil
}

// credential returns the value of --name, or asks for it on a terminal.
func (c *cli) credential(tty *os.File, name, given, prompt string, validate func(string) error) (string, error) {
	if c.fs.Changed(name) {
		if err := validate(given); err != nil {
			return "", flagInvalid(err, "--"+name)
		}
		return given, nil
	}
	if tty == nil {
		return "", withHint(usagef("--%s is missing, and standard input is not a terminal to ask for it", name),
			"give --registry and --username (a piped standard input is the password), or use --from-docker-config")
	}
	fmt.Fprint(c.stderr, prompt)
	v, err := readLine(tty, dockercfg.MaxName+1)
	if err != nil {
		return "", fmt.Errorf("cannot read the %s from the terminal: %w", name, err)
	}
	if err := validate(v); err != nil {
		var ie *dockercfg.InvalidError
		if errors.As(err, &ie) {
			return "", fmt.Errorf("invalid %s (typed at the prompt): %s", ie.What, ie.Rule)
		}
		return "", err
	}
	return v, nil
}

// flagInvalid names the flag an invalid registry, username or password came
// from; the rule, never the value.
func flagInvalid(err error, flag string) error {
	var ie *dockercfg.InvalidError
	if errors.As(err, &ie) {
		return usagef("invalid %s (%s): %s", ie.What, flag, ie.Rule)
	}
	return err
}

// terminal returns standard input when it is a terminal, else nil.
func (c *cli) terminal() *os.File {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// readLine reads one line from a terminal in its own (echoing) mode, a
// byte at a time so that nothing after the line is consumed, and at most
// max bytes.
func readLine(r io.Reader, max int) (string, error) {
	var b []byte
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				return strings.TrimSuffix(string(b), "\r"), nil
			}
			if len(b) == max {
				return "", errors.New("the line is too long")
			}
			b = append(b, one[0])
			continue
		}
		if err == io.EOF {
			return strings.TrimSuffix(string(b), "\r"), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// fromDockerConfig copies auth entries from a docker config file.
func (c *cli) fromDockerConfig() ([]byte, error) {
	f := &c.secret
	path, source := f.dockerConfigPath, "the file given by --docker-config-path"
	switch {
	case c.fs.Changed("docker-config-path") && path == "":
		return nil, usagef("--docker-config-path needs a path")
	case c.fs.Changed("docker-config-path"):
	case c.getenv("DOCKER_CONFIG") != "":
		path, source = dockercfg.DefaultPath(c.getenv), "$DOCKER_CONFIG/config.json"
	default:
		path, source = dockercfg.DefaultPath(c.getenv), "~/.docker/config.json"
		if path == "" {
			return nil, withHint(errors.New("no docker config to read: $HOME is not set"), "name one with --docker-config-path")
		}
	}
	var registries []string
	if c.fs.Changed("registries") {
		for i, r := range strings.Split(f.registries, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			if err := dockercfg.ValidateRegistry(r); err != nil {
				var ie *dockercfg.InvalidError
				errors.As(err, &ie)
				return nil, usagef("invalid registry in --registries (item %d): %s", i+1, ie.Rule)
			}
			registries = append(registries, r)
		}
		if len(registries) == 0 {
			return nil, withHint(usagef("--registries names no registry"), "name them separated by commas, such as --registries ghcr.io,docker.io, or leave the flag out to copy all")
		}
	}
	data, err := dockercfg.ReadFile(path)
	defer clear(data)
	if err != nil {
		hint := "flyte read " + source
		if !c.fs.Changed("docker-config-path") {
			hint += "; name another file with --docker-config-path"
		}
		return nil, withHint(err, hint)
	}
	v, err := dockercfg.FromConfig(data, registries)
	if err != nil {
		var me *dockercfg.MissingError
		switch {
		case errors.As(err, &me) && me.Helper:
			return nil, withHint(err, "give them instead with: flyte "+c.cmd.Name+" KEY --type image_pull --registry "+me.Registry+" --username USERNAME (the password is asked for)")
		case errors.Is(err, dockercfg.ErrHelperOnly):
			return nil, withHint(err, "give the credentials instead with: flyte "+c.cmd.Name+" KEY --type image_pull --registry REGISTRY --username USERNAME (the password is asked for)")
		}
		return nil, withHint(err, "flyte read "+source)
	}
	return v, nil
}
