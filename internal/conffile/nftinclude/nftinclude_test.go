package nftinclude

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ours = "/etc/nftables.d/conntrack-tf-web.nft"

// corpus is every file under testdata plus its CRLF and no-final-newline
// variants.
func corpus(t testing.TB) map[string][]byte {
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{"empty": nil, "one line no newline": []byte("flush ruleset")}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		out[name] = b
		out[name+" crlf"] = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
		out[name+" no final newline"] = bytes.TrimRight(b, "\n")
	}
	return out
}

func TestEnsureRemoveRoundTrip(t *testing.T) {
	for name, orig := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			added := Ensure(orig, ours)
			if !Has(added, ours) {
				t.Fatalf("no include after Ensure:\n%q", added)
			}
			if !bytes.HasPrefix(added, bytes.TrimRight(orig, "\r\n")) {
				t.Fatalf("foreign bytes changed:\n%q\n%q", orig, added)
			}
			if again := Ensure(added, ours); !bytes.Equal(again, added) {
				t.Fatalf("Ensure not idempotent:\n%q", again)
			}
			crlf := bytes.Contains(orig, []byte("\r\n"))
			if crlf != bytes.HasSuffix(added, []byte("\r\n")) {
				t.Fatalf("line ending of the new line: %q", added)
			}
			removed := Remove(added, ours)
			want := orig
			if len(orig) > 0 && !bytes.HasSuffix(orig, []byte("\n")) {
				// The last line got an ending before the include.
				want = append(append([]byte{}, orig...), added[len(orig):len(added)-len(Line(ours))-len(lineEnd(added))]...)
			}
			if !bytes.Equal(removed, want) {
				t.Fatalf("Remove did not give back the file:\n%q\nwant\n%q", removed, want)
			}
		})
	}
}

func lineEnd(b []byte) string {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

func TestIncludeForms(t *testing.T) {
	for _, c := range []struct {
		text string
		has  bool
	}{
		{`include "` + ours + `"`, true},
		{`  include "` + ours + `"  # NOTRACK`, true},
		{`include "` + ours + `";`, true},
		{`# include "` + ours + `"`, false},
		{`include "` + ours + `.bak"`, false},
		{`include "/etc/nftables.d/*.nft"`, false},
	} {
		if got := Has([]byte("flush ruleset\n"+c.text+"\n"), ours); got != c.has {
			t.Errorf("Has(%q) = %v", c.text, got)
		}
	}
	// Remove takes only ours, every duplicate of it, and nothing else.
	in := "flush ruleset\ninclude \"" + ours + "\"\n# include \"" + ours + "\"\ninclude \"/etc/other.nft\"\ninclude \"" + ours + "\"\n"
	if got, want := string(Remove([]byte(in), ours)), "flush ruleset\n# include \""+ours+"\"\ninclude \"/etc/other.nft\"\n"; got != want {
		t.Errorf("Remove:\n%q\nwant\n%q", got, want)
	}
}

func FuzzEnsureRemove(f *testing.F) {
	for _, b := range corpus(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, orig []byte) {
		if Has(orig, ours) {
			// Remove drops ours and keeps the rest line by line.
			if r := Remove(orig, ours); Has(r, ours) {
				t.Fatalf("still includes after Remove: %q", r)
			}
			return
		}
		added := Ensure(orig, ours)
		if !Has(added, ours) || !bytes.HasPrefix(added, orig) {
			t.Fatalf("Ensure(%q) = %q", orig, added)
		}
		if r := Remove(added, ours); !strings.HasPrefix(string(added), string(r)) || len(r) < len(orig) {
			t.Fatalf("Remove(Ensure(%q)) = %q", orig, r)
		}
	})
}
