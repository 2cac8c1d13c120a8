package iptables

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzRoundTrip: parsing and rendering any bytes at all gives them back.
func FuzzRoundTrip(f *testing.F) {
	for _, c := range corpusFiles(f) {
		f.Add(c.Data)
	}
	f.Add([]byte("*raw\r\n[1:2] -A PREROUTING -m comment --comment \"a \\\"b\" -j CT --notrack\rCOMMIT"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got := Parse(b).Bytes(); !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the input:\ngot  %q\nwant %q", got, b)
		}
	})
}

var fuzzTables = []string{"raw", "filter", "mangle", "nat", "security"}

// FuzzAddDelete: on any file, for any rule ValidRule accepts, AddRule (or
// InsertRule, which must make it the chain's first rule) makes the rule one
// of Rules (also after writing and re-reading), DeleteRules
// removes it, and the lines the rule does not own keep their sequence; the
// only lines left behind are a chain declaration or a new table block.
func FuzzAddDelete(f *testing.F) {
	for i, c := range corpusFiles(f) {
		f.Add(c.Data, uint8(i), "PREROUTING", "conntrack-tf:abc 1", false)
		f.Add(c.Data, uint8(0), "conntrack-tf", `say "hi" \ there`, false)
		f.Add(c.Data, uint8(1), "INPUT", "conntrack-tf:abc", true)
	}
	f.Add([]byte("*raw\n-A OUTPUT -j A"), uint8(0), "OUTPUT", "", true)
	f.Add([]byte("*raw\r\n:x - [0:0]\r\nCOMMIT \r\n*raw\n"), uint8(0), "x", "User: ", false)
	f.Fuzz(func(t *testing.T, data []byte, tableIndex uint8, chain, text string, insert bool) {
		table := fuzzTables[int(tableIndex)%len(fuzzTables)]
		args := []string{"-p", "tcp", "-m", "comment", "--comment", text, "-j", "ACCEPT"}
		if ValidRule(table, chain, args) != nil {
			// Not a rule a caller may add: an error, never a panic, and
			// the file stays byte for byte.
			file := Parse(data)
			if file.AddRule(table, chain, args) == nil || file.InsertRule(table, chain, args) == nil {
				t.Fatalf("a rule ValidRule refuses was added: %q %q", chain, args)
			}
			if !bytes.Equal(file.Bytes(), data) {
				t.Fatalf("a refused rule changed the file")
			}
			return
		}
		match := func(r Rule) bool { return r.Chain == chain && slices.Equal(r.Args, args) }
		count := func(g *File) int {
			n := 0
			for _, r := range g.Rules(table) {
				if match(r) {
					n++
				}
			}
			return n
		}

		file := Parse(data)
		had := count(file)
		hadTable := slices.Contains(file.Tables(), table)
		before := others(file, table, match)

		if insert {
			if err := file.InsertRule(table, chain, args); err != nil {
				t.Fatalf("InsertRule of a valid rule: %v", err)
			}
			var last block // the table's last block, where the rule goes
			for _, b := range file.blocks() {
				if b.table == table {
					last = b
				}
			}
			for i := last.head + 1; i < last.end; i++ {
				if r, ok := file.rule(table, i); ok && r.Chain == chain {
					if !match(r) {
						t.Fatalf("InsertRule: first rule of %s is %q\nfile %q", chain, r.Raw, file.Bytes())
					}
					break
				}
			}
		} else {
			if err := file.AddRule(table, chain, args); err != nil {
				t.Fatalf("AddRule of a valid rule: %v", err)
			}
		}
		for _, g := range []*File{file, Parse(file.Bytes())} {
			if got := count(g); got != had+1 {
				t.Fatalf("%d matching rules after AddRule, want %d\nfile %q", got, had+1, file.Bytes())
			}
		}
		if !hadTable && !slices.Contains(file.Tables(), table) {
			t.Fatalf("AddRule did not create table %s", table)
		}

		if n := file.DeleteRules(table, match); n != had+1 {
			t.Fatalf("DeleteRules = %d, want %d", n, had+1)
		}
		for _, g := range []*File{file, Parse(file.Bytes())} {
			if got := count(g); got != 0 {
				t.Fatalf("%d matching rules after DeleteRules\nfile %q", got, file.Bytes())
			}
		}

		// What AddRule may leave: the chain's declaration and, when the
		// table was missing, the lines of its new block.
		eol := file.dominantEOL()
		allowed := map[string]bool{":" + chain + " - [0:0]" + eol: true}
		if !hadTable {
			allowed["*"+table+eol], allowed["COMMIT"+eol] = true, true
			for _, c := range builtins[table] {
				allowed[":"+c+" ACCEPT [0:0]"+eol] = true
			}
		}
		after := others(file, table, match)
		if len(after) > len(before)+len(allowed) {
			t.Fatalf("%d lines left behind, at most %d allowed", len(after)-len(before), len(allowed))
		}
		sameOthers(t, before, after, func(l string) bool { return allowed[l] })
	})
}
