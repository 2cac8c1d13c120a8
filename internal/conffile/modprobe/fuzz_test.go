package modprobe

import (
	"bytes"
	"testing"
)

// FuzzRoundTrip: parsing and rendering any bytes gives them back, and the
// getters never panic.
func FuzzRoundTrip(f *testing.F) {
	for _, c := range corpusFiles(f) {
		f.Add(c.Data)
	}
	for _, in := range quirkInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file := Parse(b)
		if got := file.Bytes(); !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the input:\ngot  %q\nwant %q", got, b)
		}
		file.Option("nf_conntrack", "hashsize")
		file.Install("nf_conntrack")
		file.Blacklisted("nf_conntrack")
	})
}

// FuzzEdit: on any file, for any valid module, param and value, the setters
// make the value effective (read back from the rendered bytes), declaring it
// again changes nothing, the deletes remove it, and lines the module does not
// own, as well as the module's other params, never change.
func FuzzEdit(f *testing.F) {
	mods := []string{"nf_conntrack", "nf-conntrack", "ip_vs", "nvidia", "bonding"}
	params := []string{"hashsize", "conn_tab_bits", "NVreg_DynamicPowerManagement", "max_bonds"}
	values := []string{"131072", "0x02", "-1", "a,b"}
	for i, c := range corpusFiles(f) {
		f.Add(c.Data, mods[i%len(mods)], params[i%len(params)], values[i%len(values)])
	}
	for _, in := range quirkInputs {
		f.Add([]byte(in), "nf_conntrack", "hashsize", "131072")
	}
	f.Fuzz(func(t *testing.T, data []byte, module, param, value string) {
		// Map invalid names onto the seed ones rather than skip: most
		// mutated strings are invalid, and the file is what we fuzz.
		if ValidModuleName(module) != nil {
			module = mods[len(module)%len(mods)]
		}
		if ValidParam(param) != nil {
			param = params[len(param)%len(params)]
		}
		if ValidValue(value) != nil {
			value = values[len(value)%len(values)]
		}
		cmd := "/bin/" + value
		file := Parse(data)
		before := notOwned(file, module)
		others := otherParams(file, module, param)

		file.SetOption(module, param, value)
		file.SetBlacklist(module, true)
		file.SetInstall(module, cmd)
		set := file.Bytes()
		g := Parse(set)
		if got, ok := g.Option(module, param); !ok || got != value {
			t.Fatalf("Option after SetOption = %q, %v; want %q\nfile %q", got, ok, value, set)
		}
		if !g.Blacklisted(module) {
			t.Fatalf("not Blacklisted after SetBlacklist(true)\nfile %q", set)
		}
		if got, ok := g.Install(module); !ok || got != cmd {
			t.Fatalf("Install after SetInstall = %q, %v; want %q\nfile %q", got, ok, cmd, set)
		}
		sameNotOwned(t, "after set", before, notOwned(g, module))
		sameParams(t, "after set", g, module, param, others)

		// Idempotent, on the in-memory file and on the re-parsed one.
		for _, h := range []*File{file, g} {
			h.SetOption(module, param, value)
			if h.SetBlacklist(module, true) {
				t.Fatalf("second SetBlacklist(true) reported a change\nfile %q", set)
			}
			h.SetInstall(module, cmd)
			if got := h.Bytes(); !bytes.Equal(got, set) {
				t.Fatalf("second set changed the file:\ngot  %q\nwant %q", got, set)
			}
		}

		if !file.DeleteOption(module, param) || !file.SetBlacklist(module, false) || !file.DeleteInstall(module) {
			t.Fatalf("undo reported no change\nfile %q", set)
		}
		g = Parse(file.Bytes())
		if got, ok := g.Option(module, param); ok {
			t.Fatalf("Option after DeleteOption = %q\nfile %q", got, file.Bytes())
		}
		if g.Blacklisted(module) {
			t.Fatalf("Blacklisted after SetBlacklist(false)\nfile %q", file.Bytes())
		}
		if got, ok := g.Install(module); ok {
			t.Fatalf("Install after DeleteInstall = %q\nfile %q", got, file.Bytes())
		}
		sameNotOwned(t, "after undo", before, notOwned(g, module))
		sameParams(t, "after undo", g, module, param, others)
	})
}
