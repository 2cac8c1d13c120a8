package modulesload

import (
	"bytes"
	"strings"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/corpus"
)

func corpusFiles(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range corpus.Load(t, 6) {
		out[f.Name] = f.Data
	}
	return out
}

func TestRoundTripAndEdit(t *testing.T) {
	for name, b := range corpusFiles(t) {
		f := Parse(b)
		if !bytes.Equal(f.Bytes(), b) {
			t.Fatalf("%s: round trip changed the file", name)
		}
		had := f.Has("nf_conntrack")
		if !f.Set("nf_conntrack", true) && !had {
			t.Fatalf("%s: Set reported no change", name)
		}
		if !f.Has("nf-conntrack") || f.Set("nf_conntrack", true) {
			t.Fatalf("%s: Set is not idempotent", name)
		}
		f.Set("nf_conntrack", false)
		if f.Has("nf_conntrack") {
			t.Fatalf("%s: still loads nf_conntrack", name)
		}
		// Only nf_conntrack lines went; a missing final newline may have been added.
		want := strings.TrimRight(string(b), "\n")
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if module(l) == "nf_conntrack" {
				want = strings.Replace(want, l, "", 1)
			}
		}
		if got := strings.TrimRight(string(f.Bytes()), "\n"); !had && got != want {
			t.Fatalf("%s: other lines changed:\n%q\nwant\n%q", name, got, want)
		}
	}
}

func TestSetKeepsStyle(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "nf_conntrack\n",
		"# c\nbr_netfilter":        "# c\nbr_netfilter\nnf_conntrack\n",
		"a\r\nb\r\n":               "a\r\nb\r\nnf_conntrack\r\n",
		"#nf_conntrack\noverlay\n": "#nf_conntrack\noverlay\nnf_conntrack\n",
	} {
		f := Parse([]byte(in))
		f.Set("nf_conntrack", true)
		if got := string(f.Bytes()); got != want {
			t.Errorf("Set on %q = %q, want %q", in, got, want)
		}
	}
	f := Parse([]byte("x\nnf-conntrack\n# keep\nnf_conntrack\n"))
	f.Set("nf_conntrack", false)
	if got := string(f.Bytes()); got != "x\n# keep\n" {
		t.Fatalf("remove: %q", got)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, b := range corpusFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := Parse(b)
		if !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("round trip changed %q", b)
		}
		p.Set("nf_conntrack", true)
		if !Parse(p.Bytes()).Has("nf_conntrack") {
			t.Fatal("Set did not stick")
		}
		p.Set("nf_conntrack", false)
		if Parse(p.Bytes()).Has("nf_conntrack") {
			t.Fatal("remove did not stick")
		}
	})
}
