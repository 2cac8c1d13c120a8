package conntrack

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// run runs a read script on this machine (they only read) and returns its
// stdout.
func run(t testing.TB, script string, args ...string) string {
	t.Helper()
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Output()
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	return string(out)
}

// steady drops what changes between two reads of a live kernel.
func steadyFacts(f *Facts) { f.Count, f.Stats = nil, nil }

// noComments drops iptables-save's comments: they hold the time.
func noComments(save string) string {
	var keep []string
	for _, l := range strings.Split(save, "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// Every view of one combined read is what the object's own script reads,
// on this machine's real files and on files with awkward bytes.
func TestSnapshotMatchesOwnReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sysctlFile := write("sysctl.conf", "net.netfilter.nf_conntrack_max = 1\r\n# no newline at the end")
	modprobe := write("modprobe.conf", "options nf_conntrack hashsize=16\n\n\n")
	blacklist := write("blacklist.conf", "blacklist nf_conntrack\ninstall nf_conntrack /bin/false")
	rules := write("rules.v4", "*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n")
	config := write("iptables-config", "IPTABLES_MODULES_UNLOAD=\"no\"\nx")
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := LimitsPaths{SysctlFile: sysctlFile, ModprobeFile: modprobe, ModulesLoadFile: filepath.Join(dir, "missing.conf")}
	req := SnapshotRequest{
		Limits: []LimitsPaths{
			{SysctlFile: "/etc/sysctl.conf", ModprobeFile: "/etc/modprobe.d/iptables.conf", ModulesLoadFile: "/etc/modules-load.d/conntrack.conf"},
			other,
		},
		Modules: []ModulesRead{
			{File: "/etc/modprobe.d/blacklist.conf", Modules: ClassicBlacklist},
			{File: blacklist, Modules: []string{"nf_conntrack", "no_such_module", "xt_state"}},
		},
		Firewall: []FirewallRead{{IPVersion: 4}, {IPVersion: 6}, {RulesFile: rules, IPVersion: 4}, {RulesFile: filepath.Join(dir, "adir"), IPVersion: 6}},
		Files:    []string{config, filepath.Join(dir, "none"), "/etc/sysconfig/iptables-config"},
	}
	script, args := SnapshotScript(req)
	snap, err := ParseSnapshot(run(t, script, args...), req)
	if err != nil {
		t.Fatal(err)
	}

	want, err := ParseFacts(run(t, FactsScript()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := snap.Facts()
	if err != nil {
		t.Fatal(err)
	}
	steadyFacts(&want)
	steadyFacts(&got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("facts:\n got %+v\nwant %+v", got, want)
	}

	for _, p := range req.Limits {
		s, a := LimitsScript(p)
		want, err := ParseLimits(run(t, s, a...), p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := snap.Limits(p)
		if !ok || err != nil {
			t.Fatalf("limits %v: ok %v, %v", p, ok, err)
		}
		for _, l := range []*Limits{&got, &want} {
			steadyFacts(&l.Facts)
			delete(l.Running, "count")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("limits %v:\n got %+v\nwant %+v", p, got, want)
		}
	}
	if got, _, _ := snap.Limits(other); string(got.Sysctl.Content) != "net.netfilter.nf_conntrack_max = 1\r\n# no newline at the end" {
		t.Errorf("sysctl file bytes %q", got.Sysctl.Content)
	}

	for _, m := range req.Modules {
		s, a := ModulesScript(m.File, m.Modules)
		want, err := ParseModules(run(t, s, a...), m.File)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := snap.Modules(m.File, m.Modules)
		if !ok || err != nil {
			t.Fatalf("modules %v: ok %v, %v", m, ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("modules %v:\n got %+v\nwant %+v", m, got, want)
		}
	}
	// Fewer modules than read: only the kinds asked for.
	if got, ok, _ := snap.Modules("/etc/modprobe.d/blacklist.conf", []string{"xt_state"}); !ok || len(got.Kind) != 1 {
		t.Errorf("a subset of the modules read: ok %v, kinds %v", ok, got.Kind)
	}

	for _, f := range req.Firewall {
		s, a := FirewallScript(f.RulesFile, f.IPVersion)
		want, err := ParseFirewall(run(t, s, a...), f.RulesFile, f.IPVersion)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := snap.Firewall(f.RulesFile, f.IPVersion)
		if !ok || err != nil {
			t.Fatalf("firewall %v: ok %v, %v", f, ok, err)
		}
		for _, fw := range []*Firewall{&got, &want} {
			fw.LiveRaw, fw.LiveFilter = noComments(fw.LiveRaw), noComments(fw.LiveFilter)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("firewall %v:\n got %+v\nwant %+v", f, got, want)
		}
	}
	// A declared file that is a layout's default is in the default read.
	for _, f := range []FirewallRead{{RulesFile: "/etc/sysconfig/iptables", IPVersion: 4}, {RulesFile: "/etc/iptables/rules.v6", IPVersion: 6}} {
		if !req.Covers(SnapshotRequest{Firewall: []FirewallRead{f}}) {
			t.Errorf("%v is not covered by the default read", f)
		}
		s, a := FirewallScript(f.RulesFile, f.IPVersion)
		want, err := ParseFirewall(run(t, s, a...), f.RulesFile, f.IPVersion)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := snap.Firewall(f.RulesFile, f.IPVersion)
		if !ok || err != nil {
			t.Fatalf("firewall %v: ok %v, %v", f, ok, err)
		}
		for _, fw := range []*Firewall{&got, &want} {
			fw.LiveRaw, fw.LiveFilter = noComments(fw.LiveRaw), noComments(fw.LiveFilter)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("firewall %v:\n got %+v\nwant %+v", f, got, want)
		}
	}
	if got, _, _ := snap.Firewall(filepath.Join(dir, "adir"), 6); !got.Rules.IsDir {
		t.Error("a directory as the rules file reads as a directory")
	}

	for _, svcs := range [][]string{FirewallServices, {"iptables", "ip6tables"}} {
		s, a := ServicesScript(svcs)
		want, err := ParseServices(run(t, s, a...))
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := snap.Services(svcs)
		if !ok || err != nil {
			t.Fatalf("services %v: ok %v, %v", svcs, ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("services %v:\n got %+v\nwant %+v", svcs, got, want)
		}
	}

	for _, p := range req.Files {
		got, ok, err := snap.File(p)
		if !ok || err != nil {
			t.Fatalf("file %s: ok %v, %v", p, ok, err)
		}
		want := File{Path: p}
		if b, err := os.ReadFile(p); err == nil {
			want.Exists, want.Content = true, b
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("file %s:\n got %+v\nwant %+v", p, got, want)
		}
	}

	// What was not read says so.
	if _, ok, _ := snap.Limits(LimitsPaths{SysctlFile: "/etc/sysctl.d/x.conf"}); ok {
		t.Error("limits of other files: ok")
	}
	if _, ok, _ := snap.Modules(blacklist, []string{"nf_nat"}); ok {
		t.Error("a module not read: ok")
	}
	if _, ok, _ := snap.Firewall(rules, 6); ok {
		t.Error("firewall of another version: ok")
	}
	if _, ok, _ := snap.File("/etc/other"); ok {
		t.Error("a file not read: ok")
	}
}

// A section printed by the combined script, as s() prints it.
func sec(name, body string) string { return "\n" + marker + name + "\n" + body }

// snapshotOut is combined output with facts and the given parts.
func snapshotOut(parts ...string) string {
	return "motd\n" + sec("begin", "") + sec("uname_r", "6.1.0") + sec("uname_m", "x86_64\n") +
		sec("os_release", "ID=debian\n") + sec("exists", "/etc/debian_version\n") + strings.Join(parts, "") + sec("end", "")
}

// An unreadable file fails the reads that asked for it, not the others.
func TestSnapshotUnreadableFailsItsPartOnly(t *testing.T) {
	t.Parallel()
	req := SnapshotRequest{Firewall: []FirewallRead{{IPVersion: 4}}, Files: []string{"/etc/sysconfig/iptables-config"}}
	out := snapshotOut(
		sec("F0/file_rules_rhel", "none\n"), sec("F0/file_rules_debian", "file\n"), sec("F0/unreadable:/etc/iptables/rules.v4", "cat: /etc/iptables/rules.v4: Permission denied\n"),
		sec("F0/live_raw", ""), sec("F0/live_filter", ""),
		sec("S0/systemd", ""), sec("S0/sysv_tool", ""), sec("S0/sysv", "iptables no no no\nip6tables no no no\nfirewalld no no no\nnftables no no no\n"),
		sec("X0/file_content", "file\nA=1\nx\n"))
	snap, err := ParseSnapshot(out, req)
	if err != nil {
		t.Fatal(err)
	}
	var unreadable *UnreadableError
	if _, ok, err := snap.Firewall("", 4); !ok || !errors.As(err, &unreadable) || unreadable.Path != "/etc/iptables/rules.v4" {
		t.Errorf("firewall: ok %v, err %v; want the unreadable rules file", ok, err)
	}
	if f, _, err := snap.File("/etc/sysconfig/iptables-config"); err != nil || string(f.Content) != "A=1\n" {
		t.Errorf("file: %q, %v", f.Content, err)
	}
	if _, err := snap.Facts(); err != nil {
		t.Errorf("facts: %v", err)
	}
	if h, _, err := snap.Services([]string{"iptables"}); err != nil || len(h.SysV) != 1 {
		t.Errorf("services: %+v, %v", h, err)
	}

	// An unreadable facts file fails the facts, and not the file.
	snap, err = ParseSnapshot(snapshotOut(sec("unreadable:/proc/sys/net/netfilter/nf_conntrack_count", "denied\n"), sec("X0/file_content", "none\n")), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Facts(); !errors.As(err, &unreadable) {
		t.Errorf("facts: %v, want unreadable", err)
	}
	if f, _, err := snap.File("/etc/sysconfig/iptables-config"); err != nil || f.Exists {
		t.Errorf("file: %+v, %v", f, err)
	}
}

func TestSnapshotTruncated(t *testing.T) {
	t.Parallel()
	for _, out := range []string{"", "motd", sec("begin", "") + sec("uname_r", "6.1")} {
		if _, err := ParseSnapshot(out, SnapshotRequest{}); err == nil {
			t.Errorf("%q parsed", out)
		}
	}
}

func TestSnapshotRequest(t *testing.T) {
	t.Parallel()
	var r SnapshotRequest
	l := LimitsPaths{SysctlFile: "/etc/sysctl.conf"}
	if !r.Add(SnapshotRequest{Limits: []LimitsPaths{l}, Modules: []ModulesRead{{File: "/f", Modules: []string{"a", "b"}}}}) {
		t.Fatal("Add of something new did not grow")
	}
	for _, o := range []SnapshotRequest{
		{}, {Limits: []LimitsPaths{l}}, {Modules: []ModulesRead{{File: "/f", Modules: []string{"b"}}}},
	} {
		if !r.Covers(o) {
			t.Errorf("%+v does not cover %+v", r, o)
		}
	}
	for _, o := range []SnapshotRequest{
		{Modules: []ModulesRead{{File: "/f", Modules: []string{"c"}}}}, {Files: []string{"/f"}}, {Firewall: []FirewallRead{{IPVersion: 6}}},
		{Stack: true},
	} {
		if r.Covers(o) {
			t.Errorf("%+v covers %+v", r, o)
		}
	}
	// A transport may wrap a script in '...' verbatim.
	if script, _ := SnapshotScript(r); strings.Contains(script, "'") {
		t.Error("the snapshot script has a single quote")
	}
	if script, _ := SnapshotScript(SnapshotRequest{Stack: true}); strings.Contains(script, "'") {
		t.Error("the snapshot script with the stack read has a single quote")
	}
	if script, _ := SummaryScript(1, time.Second); strings.Contains(script, "'") {
		t.Error("the summary script has a single quote")
	}
	if !r.Add(SnapshotRequest{Stack: true}) || r.Add(SnapshotRequest{Stack: true}) || !r.Clone().Stack {
		t.Error("Add, Covers or Clone lose the stack read")
	}
	c := r.Clone()
	c.Modules[0].Modules[0] = "z"
	if r.Modules[0].Modules[0] != "a" {
		t.Error("Clone shares the module list")
	}
}

// FuzzParseSnapshot: any output parses or fails without a panic, in every
// view; a file's bytes come back exactly unless they hold a marker line.
func FuzzParseSnapshot(f *testing.F) {
	f.Add(snapshotOut(sec("X0/file_content", "file\nA=1\nx\n")), []byte("A=\"1\"\r\nno newline"))
	f.Add(snapshotOut(sec("L0/file_sysctl", "dir\n"), sec("M0/proc_modules_all", "nf_conntrack 1 2 xt_state,nf_nat, Live\n")), []byte{})
	f.Add(snapshotOut(sec("L0/boot_files", "/etc/sysctl.d/99-sysctl.conf\t/etc/sysctl.conf\n/usr/lib/sysctl.d/50-x.conf\n/etc/sysctl.d/50-x.conf\t/dev/null\n"),
		sec("L0/boot", "/usr/lib/sysctl.d/50-x.conf:net.netfilter.nf_conntrack_max = 5\n/etc/sysctl.conf:a=b\n"), sec("L0/systemd", "yes\n")), []byte{})
	f.Add("junk"+sec("begin", "")+sec("S0/sysv", "bad\n")+sec("F0/live_raw", "*raw\n")+sec("end", ""), []byte("\n\n"))
	req := SnapshotRequest{
		Limits:   []LimitsPaths{{SysctlFile: "/etc/sysctl.conf", ModprobeFile: "/m", ModulesLoadFile: "/l"}},
		Modules:  []ModulesRead{{File: "/b", Modules: []string{"nf_conntrack"}}},
		Firewall: []FirewallRead{{IPVersion: 4}},
		Files:    []string{"/x"},
		Stack:    true,
	}
	f.Fuzz(func(t *testing.T, out string, content []byte) {
		if snap, err := ParseSnapshot(out, req); err == nil {
			_, _ = snap.Facts()
			if l, ok, err := snap.Limits(req.Limits[0]); ok && err == nil {
				_, _ = l.ReadAtBoot(EtcSysctlConf)
				_ = l.LaterOverrides("/etc/sysctl.d/90-conntrack.conf", "net.netfilter.nf_conntrack_max", "1")
			}
			_, _, _ = snap.Modules("/b", []string{"nf_conntrack"})
			_, _, _ = snap.Firewall("", 4)
			_, _, _ = snap.Services(FirewallServices)
			_, _, _ = snap.File("/x")
			_, _, _ = snap.Stack()
		}
		// The file exactly as fx prints it, after every other part.
		out = snapshotOut(sec("L0/file_sysctl", "none\n"), sec("X0/file_content", "file\n"+string(content)+"x\n"))
		snap, err := ParseSnapshot(out, req)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := snap.File("/x")
		if strings.Contains("\n"+string(content), "\n"+marker) {
			return
		}
		if !ok || err != nil || !got.Exists || string(got.Content) != string(content) {
			t.Fatalf("file %q read as %q (ok %v, %v)", content, got.Content, ok, err)
		}
	})
}

// A declared rules file that is a layout's default comes from the default
// read, whichever layout's it is.
func TestSnapshotDeclaredDefaultRulesFile(t *testing.T) {
	t.Parallel()
	req := SnapshotRequest{Firewall: []FirewallRead{{IPVersion: 4}}}
	snap, err := ParseSnapshot(snapshotOut(sec("F0/file_rules_rhel", "file\nRHEL\nx\n"), sec("F0/file_rules_debian", "file\nDEBIAN\nx\n"),
		sec("F0/live_raw", "*raw\n")), req)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/etc/sysconfig/iptables": "RHEL\n", "/etc/iptables/rules.v4": "DEBIAN\n", "": "DEBIAN\n"} {
		fw, ok, err := snap.Firewall(path, 4)
		if !ok || err != nil || string(fw.Rules.Content) != want || fw.LiveRaw != "*raw\n" {
			t.Errorf("%q: %+v (ok %v, %v), want %q", path, fw, ok, err, want)
		}
	}
	if _, ok, _ := snap.Firewall("/etc/iptables/rules.v6", 4); ok {
		t.Error("another file read as a default")
	}
}

// Every read script unsets what it computes once ($ns, $nfk) before using
// it: a value from the login's environment must not pass for the
// namespace or for "nf_tables is usable" (a read must never load it).
func TestReadScriptsUnsetTheirMemos(t *testing.T) {
	t.Parallel()
	limits, _ := LimitsScript(LimitsPaths{SysctlFile: "/a", ModprobeFile: "/b", ModulesLoadFile: "/c"})
	firewall, _ := FirewallScript("", 4)
	services, _ := ServicesScript(FirewallServices)
	snapshot, _ := SnapshotScript(SnapshotRequest{Stack: true, Nft: true, Firewall: []FirewallRead{{IPVersion: 4}}})
	for name, script := range map[string]string{"limits": limits, "firewall": firewall, "services": services,
		"nft": NftScript(), "snapshot": snapshot} {
		unset := strings.Index(script, scriptMemos)
		for _, use := range []string{`"$ns"`, "nfok"} {
			if i := strings.Index(script, use); i >= 0 && (unset < 0 || unset > i) {
				t.Errorf("the %s script uses %s before it unsets it", name, use)
			}
		}
	}
}
