package main

import (
	"testing"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/identity"
)

// What keeps a command in-process, and what the agent is sent otherwise.
func TestAgentSetup(t *testing.T) {
	if buildID() == "" || nativeStore != nil {
		t.Skip("no agent in this build")
	}
	noAgent = false
	defer func() { noAgent = true }()
	env := map[string]string{}
	c := &cli{getenv: func(k string) string { return env[k] }}
	c.cfg = &config.Config{Plugins: map[string]config.PluginConfig{}, Seal: config.SealConfig{Identity: "/home/u/id.txt"}}
	c.coreOpts = core.Options{CacheDir: "/c", StateDir: "/s", Identity: identity.Resolve(c.getenv, "/home/u/id.txt")}
	s, why := c.agentSetup()
	if s == nil || s.CacheDir != "/c" || s.StateDir != "/s" || s.Identity.Variable != "" || s.Identity.Key != "" || s.Debug {
		t.Fatalf("setup %+v (%s)", s, why)
	}
	env[identity.EnvKey] = "AGE-SECRET-KEY-1X"
	c.coreOpts.Identity = identity.Resolve(c.getenv, "/home/u/id.txt")
	if s, _ := c.agentSetup(); s == nil || s.Identity.Variable != identity.EnvKey || s.Identity.Key != "AGE-SECRET-KEY-1X" {
		t.Fatalf("with %s: %+v", identity.EnvKey, s)
	}
	for _, tc := range []struct {
		set  func()
		want string
	}{
		{func() { env[identity.EnvCmd] = "pass show id"; delete(env, identity.EnvKey) }, "FLYTE_IDENTITY_CMD is set"},
		{func() {
			delete(env, identity.EnvCmd)
			c.cfg.Plugins["p"] = config.PluginConfig{Grants: map[string]map[string]any{"http": {"allow": []any{"https://x"}}}}
		}, "a plugin has grant tables"},
		{func() { env[envNoAgent] = "1" }, "FLYTE_NO_AGENT is set"},
	} {
		tc.set()
		c.coreOpts.Identity = identity.Resolve(c.getenv, "/home/u/id.txt")
		if s, why := c.agentSetup(); s != nil || why != tc.want {
			t.Errorf("setup %+v, %q; want none, %q", s, why, tc.want)
		}
	}
}
