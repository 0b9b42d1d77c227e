package etcdstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// Answers of etcd 3.4.23's gateway, as it sent them.
var gatewaySeeds = []string{
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"2","raft_term":"2"}}`,
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}`,
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"2","raft_term":"2"},"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}}]}`,
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"3","raft_term":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}}]}`,
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"4","raft_term":"2"},"deleted":"1"}`,
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"7","raft_term":"2"},"kvs":[{"key":"YQ==","create_revision":"5","mod_revision":"5","version":"1","value":"eA=="},{"key":"Yg==","create_revision":"6","mod_revision":"6","version":"1","value":"eA=="}],"more":true,"count":"3"}`,
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"8","raft_term":"2"},"succeeded":true,"responses":[{"response_delete_range":{"header":{"revision":"8"},"deleted":"1","prev_kvs":[{"key":"Yg==","create_revision":"6","mod_revision":"6","version":"1","value":"eA=="}]}}]}`,
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"9","raft_term":"2"},"kvs":[{"key":"YQ==","create_revision":"5","mod_revision":"9","version":"2"}],"count":"1"}`,
	`{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"9","raft_term":"2"},"token":"oiuPJRZoREWJJweC.20"}`,
	`{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}`,
	`{"error":"unexpected EOF","message":"unexpected EOF","code":3}`,
	`{"error":"etcdserver: user name is empty","message":"etcdserver: user name is empty","code":3}`,
	`{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}`,
	`{"error":"etcdserver: request is too large","message":"etcdserver: request is too large","code":3}`,
	`{"error":"context deadline exceeded","message":"context deadline exceeded","code":2}`,
	`{"error":"etcdserver: authentication failed, invalid user ID or password","message":"etcdserver: authentication failed, invalid user ID or password","code":3}`,
}

// The decoder agrees with encoding/json on what is JSON, and on the
// strings it holds.
func TestParseJSONAgrees(t *testing.T) {
	cases := append([]string{
		`{}`, `[]`, ` [ 1 , -0.5e+3 , "a\u00e9\ud83d\ude00\n" , true , false , null ] `,
		`"\ud800"`, `"\udc00x"`, `"\u12"`, `01`, `1.`, `-`, `1e`, `{"a":1,}`, `[1,]`, `{"a" 1}`,
		`"a` + "\x01" + `"`, "\"\xff\"", `{"a":1}x`, `nul`, `{"a":{"b":[{"c":"d"}]}}`, `"\/\b\f\r\t\"\\"`,
		strings.Repeat("[", 40) + strings.Repeat("]", 40),
	}, gatewaySeeds...)
	for _, c := range cases {
		v, err := parseJSON([]byte(c))
		var any interface{}
		jerr := json.Unmarshal([]byte(c), &any)
		deep := strings.HasPrefix(c, "[[[[")
		switch {
		case deep:
			if err == nil {
				t.Errorf("%q: nested 40 deep, accepted", c)
			}
		case c == `"\ud800"` || c == `"\udc00x"` || c == "\"\xff\"":
			// encoding/json replaces an unpaired surrogate or invalid
			// UTF-8; this decoder refuses them.
			if err == nil {
				t.Errorf("%q: unpaired surrogate accepted", c)
			}
		case (err == nil) != (jerr == nil):
			t.Errorf("%q: parseJSON %v, encoding/json %v", c, err, jerr)
		case err == nil:
			if !sameJSON(v, any) {
				t.Errorf("%q: decoded differently", c)
			}
		}
	}
}

// sameJSON compares a decoded value with encoding/json's.
func sameJSON(v *jvalue, w interface{}) bool {
	switch w := w.(type) {
	case nil:
		return v.kind == jNull
	case bool:
		return v.kind == jBool && v.b == w
	case float64:
		return v.kind == jNum
	case string:
		return v.kind == jStr && string(v.s) == w
	case []interface{}:
		if v.kind != jArr || len(v.elems) != len(w) {
			return false
		}
		for i := range w {
			if !sameJSON(&v.elems[i], w[i]) {
				return false
			}
		}
		return true
	case map[string]interface{}:
		if v.kind != jObj || len(v.keys) != len(w) {
			return false
		}
		for i, k := range v.keys {
			if !sameJSON(&v.elems[i], w[string(k)]) {
				return false
			}
		}
		return true
	}
	return false
}

func TestDuplicateMembersRefused(t *testing.T) {
	if _, err := parseJSON([]byte(`{"kvs":[],"kvs":[{"key":"YQ=="}]}`)); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate member: %v", err)
	}
	many := "{" + strings.Repeat(`"a":1,`, 0)
	for i := 0; i <= maxKeys; i++ {
		if i > 0 {
			many += ","
		}
		many += `"k` + strings.Repeat("x", i) + `":1`
	}
	if _, err := parseJSON([]byte(many + "}")); err == nil {
		t.Fatal("an object with more than maxKeys members was accepted")
	}
}

func TestBase64(t *testing.T) {
	for n := 0; n < 70; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + n)
		}
		enc := appendBase64(nil, b)
		if want := base64.StdEncoding.EncodeToString(b); string(enc) != want {
			t.Fatalf("%d bytes: %s, want %s", n, enc, want)
		}
		dec, ok := decodeBase64(enc)
		if !ok || !bytes.Equal(dec, b) {
			t.Fatalf("%d bytes: decoded %x %v", n, dec, ok)
		}
	}
	for _, bad := range []string{"a", "ab=", "a===", "YQ", "YR==", "YWJ=", "Y Q==", "YQ==YQ==", "=QQQ", "YQ-_", "YQ=a"} {
		if _, ok := decodeBase64([]byte(bad)); ok {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\`, "ctl\x00\x1f\x7f", "é😀"} {
		var got string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil || got != s {
			t.Errorf("%q: %q %v", s, got, err)
		}
	}
}

// FuzzJSON: the decoder never panics, accepts only what encoding/json
// accepts, and reads the accessors of any value without failing.
func FuzzJSON(f *testing.F) {
	for _, s := range gatewaySeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"kvs":[{"key":"","value":"===="}],"more":"x"}`))
	f.Add([]byte(`"\ud83d\ude00"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseJSON(b)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		kvsOf(v)
		rangeAnswer(v, nil, []byte{0xff})
		parseError(500, b)
		v.get("header").get("revision").int64()
		v.get("succeeded").boolean()
		v.get("token").text()
	})
}
