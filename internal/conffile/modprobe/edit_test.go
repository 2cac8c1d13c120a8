package modprobe

import (
	"bytes"
	"strings"
	"testing"
)

// owned reports whether l is a line the editor may rewrite or drop when
// asked about module: one of its options, blacklist or install lines.
func owned(l line, module string) bool {
	_, inst := l.installCmd(module)
	return inst || l.is("options", module) || l.is("blacklist", module)
}

func notOwned(f *File, module string) []line {
	var out []line
	for _, l := range f.lines {
		if !owned(l, module) {
			out = append(out, l)
		}
	}
	return out
}

// sameNotOwned fails unless the lines module does not own are the same, in
// the same order. A last line may have gained the line ending (and, after a
// trailing backslash, the empty continuation line) that appending needs.
func sameNotOwned(t *testing.T, step string, before, after []line) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("%s: %d lines not owned, want %d:\ngot  %q\nwant %q", step, len(after), len(before), texts(after), texts(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.text != b.text || a.raw != b.raw && (b.eol != "" || !strings.HasPrefix(a.raw, b.raw)) {
			t.Fatalf("%s: line %d not owned changed:\ngot  %q\nwant %q", step, i, a.raw, b.raw)
		}
	}
}

func texts(ls []line) []string {
	var s []string
	for _, l := range ls {
		s = append(s, l.text)
	}
	return s
}

// otherParams returns the effective values of every param of module other
// than param: editing param must leave them alone.
func otherParams(f *File, module, param string) map[string]string {
	m := map[string]string{}
	for _, l := range f.lines {
		if l.is("options", module) {
			for _, p := range l.params() {
				if fold(p.name) != fold(param) {
					m[fold(p.name)], _ = f.Option(module, p.name)
				}
			}
		}
	}
	return m
}

func sameParams(t *testing.T, step string, f *File, module, param string, want map[string]string) {
	t.Helper()
	got := otherParams(f, module, param)
	if len(got) != len(want) {
		t.Fatalf("%s: other params of %s = %q, want %q", step, module, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: other params of %s = %q, want %q", step, module, got, want)
		}
	}
}

// TestCorpusEdit declares hashsize, blacklist and install for nf_conntrack on
// every real file, then removes them again. Nothing else may move.
func TestCorpusEdit(t *testing.T) {
	const m, p, v, cmd = "nf_conntrack", "hashsize", "131072", "/bin/false"
	for _, c := range corpusFiles(t) {
		t.Run(c.Name, func(t *testing.T) {
			f := Parse(c.Data)
			before := notOwned(f, m)
			params := otherParams(f, m, p)
			hadOwned := len(before) != len(f.lines)

			f.SetOption(m, p, v)
			f.SetBlacklist(m, true)
			f.SetInstall(m, cmd)
			set := f.Bytes()
			g := Parse(set)
			if got, ok := g.Option(m, p); !ok || got != v {
				t.Errorf("Option = %q, %v; want %q", got, ok, v)
			}
			if !g.Blacklisted(m) {
				t.Error("Blacklisted = false after SetBlacklist(true)")
			}
			if got, ok := g.Install(m); !ok || got != cmd {
				t.Errorf("Install = %q, %v; want %q", got, ok, cmd)
			}
			sameNotOwned(t, "after set", before, notOwned(g, m))
			sameParams(t, "after set", g, m, p, params)
			if !bytes.HasPrefix(set, c.Data) && !hadOwned {
				t.Errorf("set on a file without nf_conntrack lines did not only append:\n%q", set)
			}

			// Declaring the same again is a no-op.
			f.SetOption(m, p, v)
			if f.SetBlacklist(m, true) {
				t.Error("second SetBlacklist(true) reported a change")
			}
			f.SetInstall(m, cmd)
			if !bytes.Equal(f.Bytes(), set) {
				t.Errorf("second set changed the file")
			}

			if !f.DeleteOption(m, p) || !f.SetBlacklist(m, false) || !f.DeleteInstall(m) {
				t.Error("undo reported no change")
			}
			g = Parse(f.Bytes())
			if got, ok := g.Option(m, p); ok {
				t.Errorf("Option after DeleteOption = %q", got)
			}
			if g.Blacklisted(m) {
				t.Error("Blacklisted after SetBlacklist(false)")
			}
			if got, ok := g.Install(m); ok {
				t.Errorf("Install after DeleteInstall = %q", got)
			}
			sameNotOwned(t, "after undo", before, notOwned(g, m))
			sameParams(t, "after undo", g, m, p, params)
			// All corpus files end in a newline, so a file that had nothing
			// of ours must come back byte for byte.
			if !hadOwned && !bytes.Equal(f.Bytes(), c.Data) {
				t.Errorf("undo did not restore the file:\n%q", f.Bytes())
			}
		})
	}
}

// TestCorpusContinuationsNotOwned edits modules that sit next to the
// continued lines of the corpus and checks those lines keep every byte.
func TestCorpusContinuationsNotOwned(t *testing.T) {
	for _, name := range []string{
		"cachyos-nvidia.conf-options-continuation",
		"keepalived-ipvs.conf-options-install-continuation",
		"ubuntu-iwlwifi.conf-backslash-continuation",
	} {
		data := readTestdata(t, name)
		f := Parse(data)
		f.SetOption("nf_conntrack", "hashsize", "131072")
		f.SetInstall("nf_conntrack", "/bin/false")
		f.SetOption("ip_vs", "conn_tab_bits", "20") // owned line without continuation
		got := f.Bytes()
		for _, l := range Parse(data).lines {
			if strings.Contains(l.raw, "\\\n") && !bytes.Contains(got, []byte(l.raw)) {
				t.Errorf("%s: continued line changed: %q", name, l.raw)
			}
		}
	}
	// And one that owns it: the keepalived install line is rewritten whole.
	f := Parse(readTestdata(t, "keepalived-ipvs.conf-options-install-continuation"))
	f.SetInstall("ip_vs_ftp", "/bin/false")
	want := "options ip_vs conn_tab_bits=18\ninstall ip_vs_ftp      /bin/false\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("keepalived SetInstall(ip_vs_ftp):\ngot  %q\nwant %q", got, want)
	}
}
