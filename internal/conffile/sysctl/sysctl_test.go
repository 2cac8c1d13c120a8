package sysctl

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/corpus"
)

func corpusFiles(tb testing.TB) []corpus.File { return corpus.Load(tb, 16) }

// others returns the raw bytes of every line that does not assign one of
// keys, in order: the part of the file an edit of keys must not change.
func others(f *File, keys ...string) []string {
	var out []string
	for _, l := range f.lines {
		owned := false
		for _, k := range keys {
			owned = owned || l.assigns(NormalizeKey(k))
		}
		if !owned {
			out = append(out, l.text+l.eol)
		}
	}
	return out
}

// sameOthers checks that the non-owned lines are the same sequence. The one
// change allowed: a final line without newline gets one when a line is
// appended after it (otherwise the two lines would merge).
func sameOthers(tb testing.TB, before, after []string) {
	tb.Helper()
	if len(before) != len(after) {
		tb.Fatalf("non-owned lines: %d before, %d after\nbefore %q\nafter  %q", len(before), len(after), before, after)
	}
	for i := range before {
		b, a := before[i], after[i]
		if a == b {
			continue
		}
		last := i == len(before)-1
		if last && !strings.HasSuffix(b, "\n") && (a == b+"\n" || a == b+"\r\n") {
			continue
		}
		tb.Fatalf("non-owned line %d changed: %q -> %q", i, b, a)
	}
}

func TestRoundTripCorpus(t *testing.T) {
	for _, c := range corpusFiles(t) {
		t.Run(c.Name, func(t *testing.T) {
			if got := Parse(c.Data).Bytes(); !bytes.Equal(got, c.Data) {
				t.Fatalf("round trip changed the file:\ngot  %q\nwant %q", got, c.Data)
			}
		})
	}
}

func TestRoundTripTable(t *testing.T) {
	for name, in := range map[string]string{
		"empty":              "",
		"only newline":       "\n",
		"crlf":               "a = 1\r\nb=2\r\n",
		"mixed endings":      "a = 1\r\nb=2\nc =3",
		"lone cr":            "a = 1\rb = 2\n",
		"no trailing eol":    "a = 1\nb = 2",
		"only comments":      "# one\n#two\n   # three\n",
		"semicolon comments": "; a = 1\n\t;b=2\n",
		"key=value":          "net.ipv4.ip_forward=1\n",
		"key = value":        "net.ipv4.ip_forward = 1\n",
		"slashed":            "net/ipv4/ip_forward=1\n",
		"duplicates":         "a = 1\na = 2\na=3\n",
		"tabs":               "\ta\t=\t1\t\n",
		"dash prefix":        "-net.core.default_qdisc = fq_codel\n-net.ipv4.conf.all.rp_filter\n",
		"whitespace lines":   "  \n\t\n \r\n",
		"trailing spaces":    "a = 1   \n",
		"garbage":            "this is not sysctl\n=\n= 1\n",
		"utf8 and binary":    "# don’t\n\xff\xfe = \x00\n",
		"empty value":        "a =\nb = \n",
	} {
		t.Run(name, func(t *testing.T) {
			if got := string(Parse([]byte(in)).Bytes()); got != in {
				t.Fatalf("got %q, want %q", got, in)
			}
		})
	}
}

func TestParseKeysAndGet(t *testing.T) {
	in := "" +
		"# net.commented = 1\n" +
		"#net.commented2=1\n" +
		"; net.semi = 1\n" +
		"  # net.indented = 1\n" +
		"garbage line\n" +
		"-net.ipv4.conf.all.rp_filter\n" + // systemd glob exclusion: not an assignment
		"net/ipv4/tcp_syncookies=1\n" +
		"\tkernel.panic\t=\t10\t\r\n" +
		"-net.core.default_qdisc = fq_codel\n" +
		"net.ipv4.ip_local_port_range = 1024    65000  \n" +
		"net.ipv4.conf.*.rp_filter = 2\n" +
		"net.ipv4.conf.all.rp_filter = 2 # Required with systemd\n" +
		"kernel.panic = 20\n" +
		"net.empty =\n" +
		"net/ipv4/conf/eth0.100/rp_filter = 0"
	f := Parse([]byte(in))

	wantKeys := []string{
		"net.ipv4.tcp_syncookies",
		"kernel.panic",
		"net.core.default_qdisc",
		"net.ipv4.ip_local_port_range",
		"net.ipv4.conf.*.rp_filter",
		"net.ipv4.conf.all.rp_filter",
		"net.empty",
		"net.ipv4.conf.eth0/100.rp_filter",
	}
	if got := f.Keys(); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("Keys() = %q\nwant     %q", got, wantKeys)
	}

	for _, tc := range []struct {
		key, want string
		ok        bool
	}{
		{"net.ipv4.tcp_syncookies", "1", true},
		{"net/ipv4/tcp_syncookies", "1", true},
		{" -net.ipv4.tcp_syncookies ", "1", true},
		{"kernel.panic", "20", true}, // last assignment wins
		{"net.core.default_qdisc", "fq_codel", true},
		{"net.ipv4.ip_local_port_range", "1024    65000", true},
		{"net.ipv4.conf.all.rp_filter", "2 # Required with systemd", true}, // sysctl does not strip inline comments
		{"net.empty", "", true},
		{"net.ipv4.conf.eth0/100.rp_filter", "0", true},
		{"net/ipv4/conf/eth0.100/rp_filter", "0", true},
		{"net.ipv4.conf.eth0.100.rp_filter", "", false}, // a different path
		{"net.commented", "", false},
		{"net.commented2", "", false},
		{"net.semi", "", false},
		{"net.indented", "", false},
		{"garbage line", "", false},
		{"", "", false},
	} {
		got, ok := f.Get(tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNormalizeKey(t *testing.T) {
	for in, want := range map[string]string{
		"net.netfilter.nf_conntrack_max":   "net.netfilter.nf_conntrack_max",
		"net/netfilter/nf_conntrack_max":   "net.netfilter.nf_conntrack_max",
		"  net.ipv4.ip_forward\t":          "net.ipv4.ip_forward",
		"-net.core.default_qdisc":          "net.core.default_qdisc",
		" -net/ipv4/ip_forward ":           "net.ipv4.ip_forward",
		"net/ipv4/conf/eth0.100/rp_filter": "net.ipv4.conf.eth0/100.rp_filter",
		"net.ipv4.conf.eth0/100.rp_filter": "net.ipv4.conf.eth0/100.rp_filter",
		"kernel":                           "kernel",
		"--x":                              "-x",
		"":                                 "",
	} {
		if got := NormalizeKey(in); got != want {
			t.Errorf("NormalizeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{
		"net.netfilter.nf_conntrack_max",
		"net/netfilter/nf_conntrack_max",
		"-net.core.default_qdisc",
		"net.bridge.bridge-nf-call-iptables",
		"net.ipv4.conf.eth0/100.rp_filter",
		"kernel",
	} {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range []string{
		"", "-", "--net.x", " net.x", "net.x ", "net x", "net.x=1", "net.*.x",
		"net..x", ".net.x", "net.x.", "net./x", "/net/x", "net.x\n", "nét.x", "#net.x",
	} {
		if err := ValidKey(k); err == nil {
			t.Errorf("ValidKey(%q) = nil, want an error", k)
		}
	}
}

func TestValidValue(t *testing.T) {
	for _, v := range []string{"1", "1024 65000", "|/bin/false", "-1", "fq_codel", " 2 "} {
		if err := ValidValue(v); err != nil {
			t.Errorf("ValidValue(%q) = %v, want nil", v, err)
		}
	}
	for _, v := range []string{"", " ", "\t", "1\n", "1\r", "a\x00b", "1\n2"} {
		if err := ValidValue(v); err == nil {
			t.Errorf("ValidValue(%q) = nil, want an error", v)
		}
	}
}

func TestSet(t *testing.T) {
	for _, tc := range []struct {
		name, in, key, value, want string
	}{
		{"in place, spaced", "# c\na = 1\nb = 2\n", "a", "5", "# c\na = 5\nb = 2\n"},
		{"in place, tight", "a=1\nb=2\n", "a", "5", "a=5\nb=2\n"},
		{"in place, space before only", "a =1\n", "a", "5", "a =5\n"},
		{"in place, aligned with tabs and trailing space", "a\t\t=  1 \t\n", "a", "1024 65000", "a\t\t=  1024 65000 \t\n"},
		{"in place keeps dash prefix", "-a = 1\n", "a", "5", "-a = 5\n"},
		{"in place keeps slashed spelling", "net/ipv4/ip_forward=0\n", "net.ipv4.ip_forward", "1", "net/ipv4/ip_forward=1\n"},
		{"dotted file, slashed query", "net.ipv4.ip_forward = 0\n", "net/ipv4/ip_forward", "1", "net.ipv4.ip_forward = 1\n"},
		{"crlf kept", "a = 1\r\nb = 2\r\n", "a", "5", "a = 5\r\nb = 2\r\n"},
		{"inline comment is part of the value", "a = 2 # why\n", "a", "0", "a = 0\n"},
		{"empty value", "a =\nb = 1\n", "a", "5", "a =5\nb = 1\n"},
		{"value trimmed", "a = 1\n", "a", "  5\t", "a = 5\n"},
		{"duplicates collapse to the first", "a = 1\nb = 2\na=3\n-a = 4\nc = 5\n", "a", "9", "a = 9\nb = 2\nc = 5\n"},
		{"duplicate in slashed form", "a.b = 1\na/b = 2\n", "a.b", "9", "a.b = 9\n"},
		{"last line without eol rewritten in place", "b = 2\na = 1", "a", "5", "b = 2\na = 5"},
		{"duplicate on last line without eol", "a = 1\nb = 2\na = 3", "a", "5", "a = 5\nb = 2\n"},
		{"commented-out assignment untouched", "#a = 1\n; a = 2\n", "a", "5", "#a = 1\n; a = 2\na = 5\n"},
		{"value-less dash line untouched", "-a\n", "a", "5", "-a\na = 5\n"},
		{"append", "b = 2\n", "a", "5", "b = 2\na = 5\n"},
		{"append normalizes slashed key", "b = 2\n", "net/ipv4/ip_forward", "1", "b = 2\nnet.ipv4.ip_forward = 1\n"},
		{"append drops dash prefix", "", "-a", "5", "a = 5\n"},
		{"append to empty file", "", "a", "5", "a = 5\n"},
		{"append to file without trailing eol", "b = 2", "a", "5", "b = 2\na = 5\n"},
		{"append to crlf file", "b = 2\r\n", "a", "5", "b = 2\r\na = 5\r\n"},
		{"append to crlf file without trailing eol", "b = 2\r\nc = 3", "a", "5", "b = 2\r\nc = 3\r\na = 5\r\n"},
		{"append uses the dominant eol", "x\r\ny\r\nz\n", "a", "5", "x\r\ny\r\nz\na = 5\r\n"},
		{"eol tie is LF", "x\r\ny\n", "a", "5", "x\r\ny\na = 5\n"},
		{"append after whitespace-only last line", "b = 2\n  ", "a", "5", "b = 2\n  \na = 5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.in))
			f.Set(tc.key, tc.value)
			if got := string(f.Bytes()); got != tc.want {
				t.Fatalf("Set(%q, %q) on %q:\ngot  %q\nwant %q", tc.key, tc.value, tc.in, got, tc.want)
			}
			want := strings.TrimSpace(tc.value)
			if got, ok := f.Get(tc.key); !ok || got != want {
				t.Fatalf("Get after Set = %q, %v; want %q", got, ok, want)
			}
			if got, ok := Parse(f.Bytes()).Get(tc.key); !ok || got != want {
				t.Fatalf("Get after re-parse = %q, %v; want %q", got, ok, want)
			}
		})
	}
}

func TestSetInvalidKeyIsNoOp(t *testing.T) {
	in := "# c\n\nx\n"
	f := Parse([]byte(in))
	f.Set("", "1")
	f.Set(" - ", "1")
	if got := string(f.Bytes()); got != in {
		t.Fatalf("Set with an empty key changed the file: %q", got)
	}
}

func TestDelete(t *testing.T) {
	for _, tc := range []struct {
		name, in, key, want string
		removed             bool
	}{
		{"single", "# c\na = 1\nb = 2\n", "a", "# c\nb = 2\n", true},
		{"duplicates", "a = 1\nb = 2\na=3\n-a = 4\na/x = 5\n", "a", "b = 2\na/x = 5\n", true},
		{"slashed line, dotted query", "net/ipv4/ip_forward=1\nb=2\n", "net.ipv4.ip_forward", "b=2\n", true},
		{"crlf", "a = 1\r\nb = 2\r\n", "a", "b = 2\r\n", true},
		{"last line without eol", "b = 2\na = 1", "a", "b = 2\n", true},
		{"absent", "b = 2\n", "a", "b = 2\n", false},
		{"commented-out and value-less lines stay", "#a = 1\n;a=1\n-a\n", "a", "#a = 1\n;a=1\n-a\n", false},
		{"empty file", "", "a", "", false},
		{"empty key", "x\n\n", "", "x\n\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.in))
			if got := f.Delete(tc.key); got != tc.removed {
				t.Errorf("Delete(%q) = %v, want %v", tc.key, got, tc.removed)
			}
			if got := string(f.Bytes()); got != tc.want {
				t.Fatalf("after Delete(%q): got %q, want %q", tc.key, got, tc.want)
			}
			if v, ok := f.Get(tc.key); ok {
				t.Fatalf("Get after Delete = %q, true", v)
			}
		})
	}
}

// pickExisting chooses a key from Keys() that Set may write, preferring one
// assigned more than once so the corpus run also collapses real duplicates.
func pickExisting(f *File) (string, bool) {
	count := map[string]int{}
	for _, l := range f.lines {
		count[l.key]++
	}
	first := ""
	for _, k := range f.Keys() {
		if ValidKey(k) != nil {
			continue // globs such as net.ipv4.conf.*.rp_filter
		}
		if count[k] > 1 {
			return k, true
		}
		if first == "" {
			first = k
		}
	}
	return first, first != ""
}

func TestCorpusEdits(t *testing.T) {
	const newKey, newValue = "net.netfilter.nf_conntrack_tcp_timeout_established", "432000"
	const oldValue = "4242 7"
	for _, c := range corpusFiles(t) {
		t.Run(c.Name, func(t *testing.T) {
			f := Parse(c.Data)
			if _, ok := f.Get(newKey); ok {
				t.Fatalf("corpus file already sets %s; pick another new key", newKey)
			}
			keys := []string{newKey}
			existing, hasExisting := pickExisting(f)
			var prefix, suffix, eol string
			var position int
			if hasExisting {
				keys = append(keys, existing)
				for i, l := range f.lines {
					if l.assigns(existing) {
						prefix, suffix, eol = l.text[:l.vs], l.text[l.ve:], l.eol
						position = len(others(&File{lines: f.lines[:i]}, keys...))
						break
					}
				}
			}
			t.Logf("editing %q (new) and %q (existing)", newKey, existing)
			before := others(f, keys...)

			f.Set(newKey, newValue)
			if hasExisting {
				f.Set(existing, oldValue)
			}
			sameOthers(t, before, others(f, keys...))

			re := Parse(f.Bytes())
			for _, g := range []*File{f, re} {
				if got, ok := g.Get(newKey); !ok || got != newValue {
					t.Fatalf("Get(%s) = %q, %v; want %q", newKey, got, ok, newValue)
				}
				if hasExisting {
					if got, ok := g.Get(existing); !ok || got != oldValue {
						t.Fatalf("Get(%s) = %q, %v; want %q", existing, got, ok, oldValue)
					}
				}
			}

			// The new key is appended last, with the file's line ending.
			last := f.lines[len(f.lines)-1]
			if want := newKey + " = " + newValue; last.text != want || last.eol != f.dominantEOL() {
				t.Fatalf("appended line %q%q, want %q%q", last.text, last.eol, want, f.dominantEOL())
			}
			// The existing key has one line left, where the first one was,
			// written in the author's style.
			if hasExisting {
				n := 0
				for i, l := range f.lines {
					if !l.assigns(existing) {
						continue
					}
					n++
					if got := len(others(&File{lines: f.lines[:i]}, keys...)); got != position {
						t.Errorf("%s moved: %d non-owned lines before it, want %d", existing, got, position)
					}
					if got, want := l.text+l.eol, prefix+oldValue+suffix+eol; got != want {
						t.Errorf("%s rewritten as %q, want %q", existing, got, want)
					}
				}
				if n != 1 {
					t.Errorf("%s has %d assignment lines after Set, want 1", existing, n)
				}
			}

			for _, k := range keys {
				if !f.Delete(k) {
					t.Fatalf("Delete(%s) = false", k)
				}
				if v, ok := f.Get(k); ok {
					t.Fatalf("Get(%s) after Delete = %q", k, v)
				}
			}
			sameOthers(t, before, others(f, keys...))

			// Set then Delete of a key the file lacks gives the file back,
			// plus at most the newline its last line needed.
			g := Parse(c.Data)
			g.Set(newKey, newValue)
			g.Delete(newKey)
			got := g.Bytes()
			extra := string(got[min(len(c.Data), len(got)):])
			if !bytes.HasPrefix(got, c.Data) || (extra != "" && extra != "\n" && extra != "\r\n") ||
				extra != "" && bytes.HasSuffix(c.Data, []byte("\n")) {
				t.Fatalf("Set+Delete of a new key did not restore the file:\ngot  %q\nwant %q", got, c.Data)
			}
		})
	}
}
