package httpfixture

import (
	"io"
	"net/http"
	"os"
	"runtime"
	"testing"
)

func TestStart(t *testing.T) {
	for _, mode := range []string{"", "nope", "redirect", "big:x", "big:-1"} {
		if s, err := Start(mode); err == nil {
			s.Close()
			t.Errorf("Start(%q) started", mode)
		}
	}
	s, err := Start("big:10000")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 10000 || s.Hits() != 1 {
		t.Errorf("big:10000 sent %d bytes, hits %d", len(b), s.Hits())
	}
}

// Close ends the requests a slow server holds, and removes the CA file.
func TestClose(t *testing.T) {
	slow, err := Start("slow")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(slow.URL)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for slow.Hits() == 0 {
		runtime.Gosched() // the request is on its way
	}
	slow.Close()
	<-done
	ca, err := Start("tls-ca")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(ca.CAFile); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("CA file: %v", err)
	}
	ca.Close()
	if _, err := os.Stat(ca.CAFile); !os.IsNotExist(err) {
		t.Errorf("the CA file stayed: %v", err)
	}
}
