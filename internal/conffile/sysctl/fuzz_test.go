package sysctl

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzRoundTrip: parsing and rendering any bytes at all gives them back.
func FuzzRoundTrip(f *testing.F) {
	for _, c := range corpusFiles(f) {
		f.Add(c.Data)
	}
	f.Add([]byte("a = 1\r\nb=2\rc =3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got := Parse(b).Bytes(); !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the input:\ngot  %q\nwant %q", got, b)
		}
	})
}

// FuzzSetGet: on any file, for any key and value that pass validation, Set
// makes the value effective (also after writing and re-reading), Delete
// removes it, and neither changes a line the key does not own.
func FuzzSetGet(f *testing.F) {
	keys := []string{"net.netfilter.nf_conntrack_max", "net/ipv4/ip_forward", "-kernel.panic"}
	values := []string{"262144", "1024 65000", " 2 # comment "}
	for i, c := range corpusFiles(f) {
		f.Add(c.Data, keys[i%len(keys)], values[i%len(values)])
		if k, ok := pickExisting(Parse(c.Data)); ok {
			f.Add(c.Data, k, values[i%len(values)])
		}
	}
	f.Add([]byte("a = 1\r\na=2\n-a\n#a = 3\na/b = 4"), "a", "5")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		if ValidKey(key) != nil || ValidValue(value) != nil {
			return // not a key or value a caller may set
		}
		want := strings.Trim(value, ws)
		file := Parse(data)
		before := others(file, key)

		file.Set(key, value)
		if got, ok := file.Get(key); !ok || got != want {
			t.Fatalf("Get after Set = %q, %v; want %q", got, ok, want)
		}
		if got, ok := Parse(file.Bytes()).Get(key); !ok || got != want {
			t.Fatalf("Get after Set and re-parse = %q, %v; want %q\nfile %q", got, ok, want, file.Bytes())
		}
		n := 0
		for _, l := range file.lines {
			if l.assigns(NormalizeKey(key)) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d assignment lines of %q after Set, want 1", n, key)
		}
		sameOthers(t, before, others(file, key))

		if !file.Delete(key) {
			t.Fatalf("Delete after Set = false")
		}
		if v, ok := file.Get(key); ok {
			t.Fatalf("Get after Delete = %q, true", v)
		}
		if v, ok := Parse(file.Bytes()).Get(key); ok {
			t.Fatalf("Get after Delete and re-parse = %q, true", v)
		}
		sameOthers(t, before, others(file, key))
	})
}
