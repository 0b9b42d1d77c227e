package task

import (
	"errors"
	"testing"
)

// Where file secrets cannot be given, a task that asks for them is refused
// with one line that says why and a hint that says what to do instead.
func TestCheckFiles(t *testing.T) {
	if err := checkFiles(true, "env_2", []string{"my_secret"}); err != nil {
		t.Fatalf("supported: %v", err)
	}
	if err := checkFiles(false, "env_1", nil); err != nil {
		t.Fatalf("no files: %v", err)
	}
	for _, c := range []struct {
		env  string
		keys []string
		want string
	}{
		{"env_2", []string{"my_secret"}, "environment env_2 asks for secret my_secret as a file under /etc/flyte/secrets: file secrets need Linux's private mount namespace, which flyte does not have on " + platform},
		{"env_3", []string{"a", "b"}, "environment env_3 asks for secrets a, b as files under /etc/flyte/secrets: file secrets need Linux's private mount namespace, which flyte does not have on " + platform},
		{"", []string{"a"}, "the task asks for secret a as a file under /etc/flyte/secrets: file secrets need Linux's private mount namespace, which flyte does not have on " + platform},
	} {
		err := checkFiles(false, c.env, c.keys)
		var fe *FileSecretsError
		if !errors.As(err, &fe) || err.Error() != c.want {
			t.Fatalf("got %v\nwant %s", err, c.want)
		}
		them := map[bool]string{true: "it", false: "them"}[len(c.keys) == 1]
		if h := fe.Hint(); h != "ask for "+them+" with as_env_var in flyte.toml, or run flyte on Linux (a Linux VM or container will do)" {
			t.Fatalf("hint %q", h)
		}
	}
	if err := CheckFiles("env_2", []string{"k"}); (err == nil) != fileSecrets {
		t.Fatalf("CheckFiles with fileSecrets=%v: %v", fileSecrets, err)
	}
}
