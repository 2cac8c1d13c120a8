package shellvars

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzRoundTrip: parsing and rendering any bytes at all gives them back.
func FuzzRoundTrip(f *testing.F) {
	for _, c := range corpusFiles(f) {
		f.Add(c.Data)
	}
	for _, in := range roundTripCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got := Parse(b).Bytes(); !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the input:\ngot  %q\nwant %q", got, b)
		}
	})
}

// FuzzSetGet: on any file, for any key and value that pass validation, Set
// makes the value effective (also after writing and re-reading), leaves one
// assignment of the key, and changes neither a line the key does not own
// nor any other key's value; Delete then removes the key, again leaving the
// rest alone.
func FuzzSetGet(f *testing.F) {
	keys := []string{"IPTABLES_MODULES", "IPTABLES_SAVE_ON_STOP", "IP6TABLES_MODULES", "new_key"}
	newValues := []string{"ip_conntrack", "", "nf_conntrack nf_nat_ftp", "it's # not a comment"}
	for i, c := range corpusFiles(f) {
		f.Add(c.Data, keys[i%len(keys)], newValues[i%len(newValues)])
	}
	for _, in := range roundTripCases {
		f.Add([]byte(in), "A", "x y")
		f.Add([]byte(in), "B", "yes")
	}
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		if ValidKey(key) != nil || ValidValue(value) != nil {
			return // not a key or value a caller may set
		}
		file := Parse(data)
		before := others(file, key)
		vals := values(file)
		delete(vals, key)
		checkRest := func(step string, g *File) {
			t.Helper()
			sameOthers(t, before, others(g, key))
			got := values(g)
			delete(got, key)
			if !reflect.DeepEqual(got, vals) {
				t.Fatalf("%s changed other keys:\ngot  %q\nwant %q\nfile %q", step, got, vals, g.Bytes())
			}
		}

		file.Set(key, value)
		re := Parse(file.Bytes())
		for _, g := range []*File{file, re} {
			if got, ok := g.Get(key); !ok || got != value {
				t.Fatalf("Get after Set = %q, %v; want %q\nfile %q", got, ok, value, file.Bytes())
			}
			n := 0
			for _, l := range g.stmts {
				if l.key == key {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d assignment lines of %q after Set, want 1", n, key)
			}
			checkRest("Set", g)
		}

		if !file.Delete(key) {
			t.Fatalf("Delete after Set = false")
		}
		re = Parse(file.Bytes())
		for _, g := range []*File{file, re} {
			if v, ok := g.Get(key); ok {
				t.Fatalf("Get after Delete = %q, true\nfile %q", v, file.Bytes())
			}
			checkRest("Delete", g)
		}
	})
}
