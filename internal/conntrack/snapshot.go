package conntrack

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// A snapshot is one remote read of everything the objects of a host can
// need: the host facts, and per object kind the sections its own read
// script would print, each under a part prefix ("L0/", "F1/", ...). The
// views parse a part as if its own script had printed it, so every object
// gets exactly the read result it would have read alone.

// ModulesRead is what one module blacklist read asks for.
type ModulesRead struct {
	File    string
	Modules []string
}

// FirewallRead is what one notrack rule read asks for: the declared rules
// file ("" for the layout's default) and the IP version.
type FirewallRead struct {
	RulesFile string
	IPVersion int
}

// SnapshotRequest is what one combined read gathers besides the facts and
// the firewall services (always read: their list is fixed).
type SnapshotRequest struct {
	Limits   []LimitsPaths
	Modules  []ModulesRead
	Firewall []FirewallRead
	// Files are whole files (iptables-config).
	Files []string
	// Stack: which firewall stack the host runs (conntrack_host).
	Stack bool
	// Nft: the nftables ruleset (conntrack_nft_notrack_rule).
	Nft bool
}

// Add extends r with what o asks for; it reports whether r grew.
func (r *SnapshotRequest) Add(o SnapshotRequest) bool {
	grew := false
	for _, p := range o.Limits {
		if !slices.Contains(r.Limits, p) {
			r.Limits, grew = append(r.Limits, p), true
		}
	}
	for _, m := range o.Modules {
		if r.modulesPart(m) < 0 {
			r.Modules, grew = append(r.Modules, ModulesRead{File: m.File, Modules: slices.Clone(m.Modules)}), true
		}
	}
	for _, f := range o.Firewall {
		if i, _ := r.firewallPart(f); i < 0 {
			r.Firewall, grew = append(r.Firewall, f), true
		}
	}
	for _, f := range o.Files {
		if !slices.Contains(r.Files, f) {
			r.Files, grew = append(r.Files, f), true
		}
	}
	if o.Stack && !r.Stack {
		r.Stack, grew = true, true
	}
	if o.Nft && !r.Nft {
		r.Nft, grew = true, true
	}
	return grew
}

// Covers reports whether a read of r holds everything o asks for.
func (r SnapshotRequest) Covers(o SnapshotRequest) bool {
	c := r.Clone()
	return !c.Add(o)
}

// Clone is a deep copy.
func (r SnapshotRequest) Clone() SnapshotRequest {
	c := SnapshotRequest{Limits: slices.Clone(r.Limits), Firewall: slices.Clone(r.Firewall), Files: slices.Clone(r.Files), Stack: r.Stack, Nft: r.Nft}
	for _, m := range r.Modules {
		c.Modules = append(c.Modules, ModulesRead{File: m.File, Modules: slices.Clone(m.Modules)})
	}
	return c
}

// firewallPart is the index of the firewall read that holds f, and the
// section of its rules file: a declared file that is one of the layouts'
// defaults is in the default read.
func (r SnapshotRequest) firewallPart(f FirewallRead) (int, string) {
	if i := slices.Index(r.Firewall, f); i >= 0 {
		return i, "file_rules_rhel"
	}
	def := slices.Index(r.Firewall, FirewallRead{IPVersion: f.IPVersion})
	switch {
	case def < 0:
	case f.RulesFile == RulesFile("rhel", f.IPVersion):
		return def, "file_rules_rhel"
	case f.RulesFile == RulesFile("debian", f.IPVersion):
		return def, "file_rules_debian"
	}
	return -1, ""
}

// modulesPart is the index of the modules read of m's file that lists
// every module m asks for, or -1.
func (r SnapshotRequest) modulesPart(m ModulesRead) int {
	for i, have := range r.Modules {
		if have.File == m.File && !slices.ContainsFunc(m.Modules, func(mod string) bool { return !slices.Contains(have.Modules, mod) }) {
			return i
		}
	}
	return -1
}

// Part prefixes of the sections of each read.
const (
	partLimits   = "L"
	partModules  = "M"
	partFirewall = "F"
	partServices = "S"
	partFile     = "X"
	partStack    = "H"
	partNft      = "N"
)

// snapshotScript is made of the objects' own probes: each becomes a shell
// function, so it keeps its positional parameters, and s prefixes each
// section with the part ($ctp) being read. It first waits for pending
// guarded changes (settleReads).
const snapshotScript = scriptMemos + settleReads + `exec 2>/dev/null
r=$(uname -r)
ctp=
s() { printf "\n@@ctfacts:%s%s\n" "$ctp" "$1"; }
` + factsFuncs + fileProbe +
	"pl() {\n" + limitsProbes + "}\n" +
	"pm1() {\n" + modulesProbes + "}\n" +
	// The module names come as one argument, one per line: there may be
	// several module reads, and only one "$@".
	"pm() { x=$1; IFS=\"\n\"; set -f; set -- $2; unset IFS; set +f; pm1 \"$x\" \"$@\"; }\n" +
	"pf() {\n" + firewallProbes + "}\n" +
	"ps() {\n" + servicesProbes + "}\n" +
	"pk() {\n" + stackProbes + "}\n" +
	"pn() {\n" + nftProbes + "}\n" +
	"s begin\n" + factsProbes

// SnapshotScript returns the script of one combined read and its
// arguments. Like the scripts it is made of, it only reads.
func SnapshotScript(r SnapshotRequest) (string, []string) {
	var b strings.Builder
	b.WriteString(snapshotScript)
	var args []string
	part := func(prefix string, i int, call string, n int, a ...string) {
		fmt.Fprintf(&b, "ctp=%s%d/; %s", prefix, i, call)
		for j := 1; j <= n; j++ {
			fmt.Fprintf(&b, " \"$%d\"", j)
		}
		fmt.Fprintf(&b, "; shift %d\n", n)
		args = append(args, a...)
	}
	for i, p := range r.Limits {
		part(partLimits, i, "pl", 3, p.SysctlFile, p.ModprobeFile, p.ModulesLoadFile)
	}
	for i, m := range r.Modules {
		part(partModules, i, "pm", 2, m.File, strings.Join(m.Modules, "\n"))
	}
	for i, f := range r.Firewall {
		_, a := FirewallScript(f.RulesFile, f.IPVersion)
		part(partFirewall, i, "pf", 3, a...)
	}
	part(partServices, 0, "ps", len(FirewallServices), FirewallServices...)
	for i, f := range r.Files {
		part(partFile, i, "fx content", 1, f)
	}
	if r.Stack {
		part(partStack, 0, "pk", 0)
	}
	if r.Nft {
		part(partNft, 0, "pn", 0)
	}
	b.WriteString("ctp=\ns end\n")
	return b.String(), args
}

// rawSection is a section as printed: its name and its lines.
type rawSection struct {
	name  string
	lines []string
}

// Snapshot is the parsed output of SnapshotScript.
type Snapshot struct {
	req    SnapshotRequest
	shared []rawSection
	parts  map[string][]rawSection
}

// Request is what the snapshot read.
func (s *Snapshot) Request() SnapshotRequest { return s.req.Clone() }

// ParseSnapshot splits the output of SnapshotScript(r) into its parts. It
// fails only when the output is not (complete) output of the script; a
// part that cannot be parsed (an unreadable file, say) fails its view.
func ParseSnapshot(out string, r SnapshotRequest) (*Snapshot, error) {
	s := &Snapshot{req: r.Clone(), parts: map[string][]rawSection{}}
	var cur *rawSection
	var secs []rawSection
	begun, ended := false, false
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, marker) {
			if cur != nil {
				cur.lines = append(cur.lines, line)
			}
			continue
		}
		if cur != nil {
			secs = append(secs, *cur)
			cur = nil
		}
		switch name := strings.TrimSpace(line[len(marker):]); name {
		case "begin":
			begun, secs = true, nil
		case "end":
			ended = begun
		default:
			if begun {
				cur = &rawSection{name: name}
			}
		}
	}
	if !begun {
		return nil, errors.New("host snapshot: output has no " + marker + "begin marker; not from SnapshotScript")
	}
	if !ended {
		return nil, errors.New("host snapshot: output has no " + marker + "end marker; truncated")
	}
	for _, sec := range secs {
		part, name, ok := strings.Cut(sec.name, "/")
		if !ok || !isPart(part) {
			s.shared = append(s.shared, sec)
			continue
		}
		s.parts[part] = append(s.parts[part], rawSection{name: name, lines: sec.lines})
	}
	return s, nil
}

// isPart reports whether a section name's prefix is a part: a letter and
// a number ("unreadable:/etc/x" of the facts is not).
func isPart(p string) bool {
	if len(p) < 2 || p[0] < 'A' || p[0] > 'Z' {
		return false
	}
	return strings.Trim(p[1:], "0123456789") == ""
}

// shared sections a view starts from.
type sharedSet int

const (
	sharedNone   sharedSet = iota
	sharedLayout           // os-release and the layout's directories (readPrelude)
	sharedFacts            // everything the facts script prints
)

// output rebuilds the output the part's own script would have printed;
// rename maps a section's name to the one that script gives it.
func (s *Snapshot) output(part string, with sharedSet, rename ...string) string {
	lines := []string{marker + "begin"}
	add := func(sec rawSection) {
		name := sec.name
		for i := 0; i+1 < len(rename); i += 2 {
			if name == rename[i] {
				name = rename[i+1]
			}
		}
		lines = append(lines, marker+name)
		lines = append(lines, sec.lines...)
	}
	for _, sec := range s.shared {
		switch {
		case with == sharedFacts:
		case with == sharedNone:
			continue
		case strings.HasPrefix(sec.name, "unreadable:") &&
			sec.name != "unreadable:/etc/os-release" && sec.name != "unreadable:/usr/lib/os-release":
			// An unreadable facts file fails the facts, not a read that
			// never asked for it.
			continue
		}
		add(sec)
	}
	for _, sec := range s.parts[part] {
		add(sec)
	}
	return strings.Join(append(lines, marker+"end", ""), "\n")
}

// Facts is the facts part, as ParseFacts(FactsScript output).
func (s *Snapshot) Facts() (Facts, error) {
	return ParseFacts(s.output("", sharedFacts))
}

// Limits is the read of p, as ParseLimits(LimitsScript(p) output); ok is
// false when the snapshot did not read p.
func (s *Snapshot) Limits(p LimitsPaths) (l Limits, ok bool, err error) {
	i := slices.Index(s.req.Limits, p)
	if i < 0 {
		return Limits{}, false, nil
	}
	l, err = ParseLimits(s.output(fmt.Sprint(partLimits, i), sharedFacts), p)
	return l, true, err
}

// Modules is the read of file and modules, as ParseModules(ModulesScript
// output); ok is false when the snapshot did not read them.
func (s *Snapshot) Modules(file string, modules []string) (m ModuleHost, ok bool, err error) {
	i := s.req.modulesPart(ModulesRead{File: file, Modules: modules})
	if i < 0 {
		return ModuleHost{}, false, nil
	}
	if m, err = ParseModules(s.output(fmt.Sprint(partModules, i), sharedLayout), file); err != nil {
		return ModuleHost{}, true, err
	}
	// A read of more modules knows more kinds than this one asked for.
	maps.DeleteFunc(m.Kind, func(mod, _ string) bool { return !slices.Contains(modules, mod) })
	return m, true, nil
}

// Firewall is the read of one IP version's rules, as ParseFirewall
// (FirewallScript output); ok is false when the snapshot did not read it.
func (s *Snapshot) Firewall(rulesFile string, ipVersion int) (fw Firewall, ok bool, err error) {
	i, section := s.req.firewallPart(FirewallRead{RulesFile: rulesFile, IPVersion: ipVersion})
	if i < 0 {
		return Firewall{}, false, nil
	}
	out := s.output(fmt.Sprint(partFirewall, i), sharedLayout)
	if rulesFile != "" && section != "file_rules_rhel" {
		// A declared file's script prints it as file_rules_rhel.
		out = s.output(fmt.Sprint(partFirewall, i), sharedLayout, "file_rules_rhel", "file_rules_other", section, "file_rules_rhel")
	}
	fw, err = ParseFirewall(out, rulesFile, ipVersion)
	return fw, true, err
}

// Services is the read of services (FirewallServices only), as
// ParseServices(ServicesScript output).
func (s *Snapshot) Services(services []string) (h ServiceHost, ok bool, err error) {
	if slices.ContainsFunc(services, func(svc string) bool { return !slices.Contains(FirewallServices, svc) }) {
		return ServiceHost{}, false, nil
	}
	if h, err = ParseServices(s.output(partServices+"0", sharedNone)); err != nil {
		return ServiceHost{}, true, err
	}
	only := func(svc string, _ ServiceState) bool { return !slices.Contains(services, svc) }
	maps.DeleteFunc(h.Units, only)
	maps.DeleteFunc(h.SysV, only)
	return h, true, nil
}

// File is a whole file the snapshot read; ok is false when it did not.
func (s *Snapshot) File(path string) (f File, ok bool, err error) {
	i := slices.Index(s.req.Files, path)
	if i < 0 {
		return File{Path: path}, false, nil
	}
	sec, err := splitSections(s.output(fmt.Sprint(partFile, i), sharedNone))
	if err != nil {
		return File{Path: path}, true, err
	}
	f, err = parseFile(sec["file_content"], path)
	return f, true, err
}

// Stack is the firewall stack read, with the services of the services
// read; ok is false when the snapshot did not read it.
func (s *Snapshot) Stack() (st Stack, ok bool, err error) {
	if !s.req.Stack {
		return Stack{}, false, nil
	}
	svc, _, err := s.Services(FirewallServices)
	if err != nil {
		return Stack{}, true, err
	}
	sec, err := splitSections(s.output(partStack+"0", sharedNone))
	if err != nil {
		return Stack{}, true, err
	}
	st, err = parseStack(sec, svc)
	return st, true, err
}

// Nft is the nftables read, as ParseNft(NftScript output); ok is false
// when the snapshot did not read it.
func (s *Snapshot) Nft() (h NftHost, ok bool, err error) {
	if !s.req.Nft {
		return NftHost{}, false, nil
	}
	h, err = ParseNft(s.output(partNft+"0", sharedLayout))
	return h, true, err
}
