package secrets

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
)

func sampleList() ListResult {
	at := time.Unix(1764547200, 123456789).UTC()
	return ListResult{
		Secrets: []Secret{
			{Scope: scope.Scope{Org: "acme"}, Key: "A", Kind: abi.SecretString, Version: 1, Created: at, Updated: at, SealedVersion: true},
			{Scope: scope.Scope{Org: "acme", Project: "p", Domain: "production"}, Key: "TLS", Kind: abi.SecretFile, Version: 7,
				Created: at, Updated: at.Add(time.Hour + 3), SealedVersion: false},
			{Scope: scope.Scope{Org: "acme", Domain: "staging"}, Key: "PULL", Kind: abi.SecretImagePull, Version: 1 << 40,
				Created: time.Unix(0, 0).UTC(), Updated: time.Unix(0, -5).UTC()},
		},
		Damaged: []Damaged{{Scope: scope.Scope{Org: "acme", Project: "x"}, Key: `"bad\u001b"`, Reason: "integrity check failed", Rollback: true}},
	}
}

// A listing crosses the agent's socket unchanged: what the client decodes
// is what List returned, times to the nanosecond, in UTC.
func TestListResultJSON(t *testing.T) {
	for _, want := range []ListResult{sampleList(), {}, {Damaged: sampleList().Damaged}, {Secrets: sampleList().Secrets}} {
		b, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var got ListResult
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v\nwire %s", got, want, b)
		}
	}
}

// What the agent sends is parsed by the client: malformed bytes are an
// error, never a panic, and whatever decodes encodes back the same.
func FuzzListResultJSON(f *testing.F) {
	b, _ := json.Marshal(sampleList())
	f.Add(b)
	f.Add([]byte(`{"secrets":"CgA="}`))
	f.Add([]byte(`{"secrets":"AAAA","damaged":[{}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// The fast path reads what the general decoder reads, in valid JSON.
		var fast, slow listJSON
		if ok, err := fast.decodeFast(b); ok && err == nil && json.Valid(b) {
			if err := json.Unmarshal(b, &slow); err != nil || string(fast.Secrets) != string(slow.Secrets) || !reflect.DeepEqual(fast.Damaged, slow.Damaged) {
				t.Fatalf("fast %+v, general %+v (%v)", fast, slow, err)
			}
		}
		var r ListResult
		if json.Unmarshal(b, &r) != nil {
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var r2 ListResult
		if err := json.Unmarshal(again, &r2); err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("%+v\nbecame %+v (%v)", r, r2, err)
		}
	})
}
