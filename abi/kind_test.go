package abi

import "testing"

// An image_pull secret reaches an injector as kind 1: SecretRequest.kind
// says only how a secret may be delivered, and stays 1 or 2 in 1.1.
func TestSecretRequestKindOnTheWire(t *testing.T) {
	for _, tt := range []struct{ in, want SecretKind }{
		{SecretString, SecretString}, {SecretFile, SecretFile}, {SecretImagePull, SecretString},
	} {
		var got SecretRequest
		if err := Unmarshal(Marshal(&SecretRequest{Ref: 1, Key: "K", Kind: tt.in, AsEnvVar: "K"}), &got); err != nil {
			t.Fatal(err)
		}
		if got.Kind != tt.want {
			t.Errorf("kind %v arrives as %v, want %v", tt.in, got.Kind, tt.want)
		}
	}
	// A store gets the record's own kind.
	var r Record
	if err := Unmarshal(Marshal(&Record{Key: "K", Kind: SecretImagePull}), &r); err != nil || r.Kind != SecretImagePull {
		t.Errorf("record kind %v, %v", r.Kind, err)
	}
}

func TestSecretKindNames(t *testing.T) {
	for k, want := range map[SecretKind]string{SecretString: "regular", SecretFile: "file", SecretImagePull: "image_pull", 0: "unknown", 4: "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", k, got, want)
		}
	}
}
