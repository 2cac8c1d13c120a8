package conntrack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// out assembles output shaped like FactsScript's: pairs of section name and
// verbatim content. Like the script, it puts a newline before every marker and
// none after the content, so content without a trailing newline stays so.
func out(kv ...string) string {
	var b strings.Builder
	b.WriteString("\n@@ctfacts:begin")
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("\n@@ctfacts:" + kv[i] + "\n" + kv[i+1])
	}
	b.WriteString("\n@@ctfacts:end\n")
	return b.String()
}

func i64(n int64) *int64 { return &n }
func boolp(b bool) *bool { return &b }

const (
	debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`
	ubuntuOSRelease = `NAME="Ubuntu"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 22.04.4 LTS"
`
	rhelOSRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
`
	modernStatHeader = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
)

type factsCase struct {
	name string
	out  string
	want Facts
}

// factsCases are shared by the table test and as fuzz seeds.
var factsCases = []factsCase{
	{
		name: "modern built-in, non-initial netns",
		out: out(
			"uname_r", "6.1.0-18-amd64",
			"uname_m", "x86_64\n",
			"long_bit", "64\n",
			"memtotal", "MemTotal:        8048576 kB\n",
			"os_release", debianOSRelease,
			"exists", "/etc/debian_version\n/proc/modules\n/sys/module/nf_conntrack\n",
			"nf_count", "12\n",
			"nf_max", "65536\n",
			"nf_buckets", "16384\n",
			"nf_max_mode", "444\n",
			"nf_hashsize", "16384\n",
			"nf_stat", modernStatHeader+
				"0000000c  00000000 00000001 00000000 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000\n",
			"proc_modules", "",
			"modules_builtin", "kernel/net/netfilter/nf_conntrack.ko\n",
			"module_file", "",
		),
		want: Facts{
			KernelRelease: "6.1.0-18-amd64", Machine: "x86_64", ArchBits: 64,
			MemoryBytes: 8048576 * 1024, OSID: "debian", OSFamily: "debian", FileLayout: "debian",
			InitialNetns: boolp(false), Module: ModuleBuiltin, Naming: NamingModern,
			Count: i64(12), Max: i64(65536), Buckets: i64(16384),
			Stats: &Stats{Found: 1, Invalid: 2, ClashResolve: u64(0), ChainTooLong: u64(0)},
		},
	},
	{
		name: "modern loaded module, initial netns, multi-CPU stats",
		out: out(
			"uname_r", "5.15.0-97-generic",
			"uname_m", "x86_64\n",
			"long_bit", "64\n",
			"memtotal", "MemTotal:       16318540 kB\n",
			"os_release", ubuntuOSRelease,
			"exists", "/etc/debian_version\n/etc/iptables\n/proc/modules\n/sys/module/nf_conntrack\n/sys/module/nf_conntrack/initstate\n",
			"nf_count", "1500\n",
			"nf_max", "262144\n",
			"nf_buckets", "65536\n",
			"nf_max_mode", "644\n",
			"nf_hashsize", "65536\n",
			// found invalid insert_failed drop early_drop search_restart are
			// columns 2 4 9 10 11 16.
			"nf_stat", modernStatHeader+
				"000005dc  00000003 0000000a 00000000 000000ff 00000000 00000000 00000007 00000000 00000001 00000002 00000003 00000000  00000000 00000000 00000000 00000010\n"+
				"000005dc  00000001 0000000a 00000000 00000001 00000000 00000000 00000002 00000000 00000001 00000000 00000000 00000000  00000000 00000000 00000000 00000001\n"+
				"000005dc  00000000 000000f0 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000\n"+
				"000005dc  00000000 ffffffff 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000\n",
			"proc_modules", "nf_conntrack 172032 4 xt_CT,nf_nat,xt_conntrack, Live 0x0000000000000000\n",
			"modules_builtin", "",
			"module_file", "/lib/modules/5.15.0-97-generic/kernel/net/netfilter/nf_conntrack.ko\n",
		),
		want: Facts{
			KernelRelease: "5.15.0-97-generic", Machine: "x86_64", ArchBits: 64,
			MemoryBytes: 16318540 * 1024, OSID: "ubuntu", OSIDLike: "debian", OSFamily: "debian", FileLayout: "debian",
			InitialNetns: boolp(true), Module: ModuleLoaded, Naming: NamingModern,
			Count: i64(1500), Max: i64(262144), Buckets: i64(65536),
			Stats: &Stats{Found: 0x0a + 0x0a + 0xf0 + 0xffffffff, Invalid: 0x100, InsertFailed: 2, Drop: 2, EarlyDrop: 3, SearchRestart: 0x11,
				ClashResolve: u64(4), ChainTooLong: u64(9)},
		},
	},
	{
		name: "module available but not loaded, RHEL",
		out: out(
			"uname_r", "5.14.0-362.8.1.el9_3.x86_64",
			"uname_m", "x86_64\n",
			"long_bit", "64\n",
			"memtotal", "MemTotal:        3735552 kB\n",
			"os_release", rhelOSRelease,
			"exists", "/etc/sysconfig\n/proc/modules\n",
			"proc_modules", "",
			"modules_builtin", "",
			"module_file", "/lib/modules/5.14.0-362.8.1.el9_3.x86_64/kernel/net/netfilter/nf_conntrack.ko.xz\n",
		),
		want: Facts{
			KernelRelease: "5.14.0-362.8.1.el9_3.x86_64", Machine: "x86_64", ArchBits: 64,
			MemoryBytes: 3735552 * 1024, OSID: "rhel", OSIDLike: "fedora", OSFamily: "rhel", FileLayout: "rhel",
			Module: ModuleAvailable,
		},
	},
	{
		name: "absent, unknown distro without hints",
		out: out(
			"uname_r", "6.6.22-0-lts",
			"uname_m", "aarch64\n",
			"long_bit", "64\n",
			"memtotal", "MemTotal:        1012345 kB\n",
			"os_release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
			"exists", "/proc/modules\n",
			"proc_modules", "",
			"modules_builtin", "",
			"module_file", "",
		),
		want: Facts{
			KernelRelease: "6.6.22-0-lts", Machine: "aarch64", ArchBits: 64,
			MemoryBytes: 1012345 * 1024, OSID: "alpine", OSFamily: "other", FileLayout: "rhel",
			Module: ModuleAbsent,
		},
	},
	{
		name: "legacy ip_conntrack 2.6.18, 32-bit, no os-release",
		out: out(
			"uname_r", "2.6.18-419.el5PAE",
			"uname_m", "i686\n",
			"long_bit", "32\n",
			"memtotal", "MemTotal:      4148160 kB\n",
			"exists", "/etc/sysconfig\n/proc/modules\n/sys/module/ip_conntrack\n",
			"ip_count", "37\n",
			"ip_max", "65536\n",
			"ip_buckets", "8192\n",
			"ip_max_mode", "644\n",
			"ip_hashsize", "8192\n",
			"ip_stat", "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete\n"+
				"00000025  00000100 00000020 00000030 00000004 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000  00000000 00000000 00000000\n"+
				"00000025  00000010 00000002 00000003 00000000 00000000 00000000 00000000 00000000 00000005 00000000 00000000 00000000  00000000 00000000 00000000\n",
			"proc_modules", "ip_conntrack 53025 3 ipt_state,iptable_nat,ip_nat, Live 0xf8a5c000\n",
			"modules_builtin", "",
			"module_file", "",
		),
		want: Facts{
			KernelRelease: "2.6.18-419.el5PAE", Machine: "i686", ArchBits: 32,
			MemoryBytes: 4148160 * 1024, OSFamily: "other", FileLayout: "rhel",
			InitialNetns: boolp(true), Module: ModuleLoaded, Naming: NamingLegacy,
			Count: i64(37), Max: i64(65536), Buckets: i64(8192),
			Stats: &Stats{Found: 0x22, Invalid: 4, InsertFailed: 5, EarlyDrop: 1},
		},
	},
	{
		// The shape of a CONFIG_MODULES=n kernel: no /proc/modules, no
		// modules.builtin, /sys/module/nf_conntrack holds only parameters/.
		// Also: nothing ends in a newline, and buckets come from hashsize.
		name: "built-in without module support, no trailing newlines",
		out: out(
			"uname_r", "6.18.44-fc",
			"uname_m", "x86_64",
			"long_bit", "64",
			"memtotal", "MemTotal:       24684092 kB",
			"os_release", "ID=debian",
			"exists", "/etc/debian_version\n/sys/module/nf_conntrack",
			"nf_count", "0",
			"nf_max", "262144",
			"nf_max_mode", "644",
			"nf_hashsize", "262144",
			"nf_stat", strings.TrimSuffix(modernStatHeader, "\n"),
			"proc_modules", "",
			"modules_builtin", "",
			"module_file", "",
		),
		want: Facts{
			KernelRelease: "6.18.44-fc", Machine: "x86_64", ArchBits: 64,
			MemoryBytes: 24684092 * 1024, OSID: "debian", OSFamily: "debian", FileLayout: "debian",
			InitialNetns: boolp(true), Module: ModuleBuiltin, Naming: NamingModern,
			Count: i64(0), Max: i64(262144), Buckets: i64(262144),
			Stats: &Stats{ClashResolve: u64(0), ChainTooLong: u64(0)},
		},
	},
	{
		name: "sysctls but no other clue, stat copy only in ip_conntrack, mode unknown",
		out: out(
			"uname_r", "4.9.0",
			"uname_m", "armv7l\n",
			"long_bit", "32\n",
			"memtotal", "MemTotal:  1024 kB\n",
			"exists", "/etc/iptables\n",
			"nf_count", "3\n",
			"nf_max", "\n", // present but unreadable
			"ip_count", "3\n",
			"ip_max", "4096\n",
			"ip_stat", "entries found invalid\n00000003 00000001 00000002\n",
			"proc_modules", "",
			"modules_builtin", "",
			"module_file", "",
		),
		want: Facts{
			KernelRelease: "4.9.0", Machine: "armv7l", ArchBits: 32,
			MemoryBytes: 1024 * 1024, OSFamily: "other", FileLayout: "debian",
			Module: ModuleBuiltin, Naming: NamingModern,
			Count: i64(3),
			Stats: &Stats{Found: 1, Invalid: 2},
		},
	},
	{
		name: "loaded module told by initstate only, unknown machine uses LONG_BIT",
		out: out(
			"uname_r", "6.8.0",
			"uname_m", "weirdarch\n",
			"long_bit", "64\n",
			"exists", "/sys/module/nf_conntrack\n/sys/module/nf_conntrack/initstate\n",
			"nf_count", "1\n",
			"nf_max", "2\n",
			"nf_buckets", "3\n",
			"proc_modules", "",
			"modules_builtin", "",
			"module_file", "",
		),
		want: Facts{
			KernelRelease: "6.8.0", Machine: "weirdarch", ArchBits: 64,
			OSFamily: "other", FileLayout: "rhel",
			Module: ModuleLoaded, Naming: NamingModern,
			Count: i64(1), Max: i64(2), Buckets: i64(3),
		},
	},
	{
		name: "CRLF line ends and noise before the begin marker",
		out: strings.ReplaceAll("Welcome to host!\n"+out(
			"uname_r", "6.1.0",
			"uname_m", "x86_64\n",
			"long_bit", "32\n", // 32-bit userland on a 64-bit kernel: uname -m wins
			"memtotal", "MemTotal:  2048 kB\n",
			"os_release", "ID=ubuntu\nID_LIKE=debian\n",
			"nf_max", "100\n",
			"nf_count", "50\n",
			"nf_max_mode", "0644\n",
			"module_file", "",
		), "\n", "\r\n"),
		want: Facts{
			KernelRelease: "6.1.0", Machine: "x86_64", ArchBits: 64,
			MemoryBytes: 2048 * 1024, OSID: "ubuntu", OSIDLike: "debian", OSFamily: "debian", FileLayout: "debian",
			InitialNetns: boolp(true), Module: ModuleBuiltin, Naming: NamingModern,
			Count: i64(50), Max: i64(100),
		},
	},
}

// dump renders Facts with pointers followed, for readable failures.
func dump(f Facts) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func TestParseFacts(t *testing.T) {
	t.Parallel()
	for _, tc := range factsCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFacts(tc.out)
			if err != nil {
				t.Fatalf("ParseFacts: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseFacts:\n got %s\nwant %s", dump(got), dump(tc.want))
			}
		})
	}
}

func TestParseFactsOSRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		osRelease            string
		exists               string
		id, like, fam, files string
	}{
		{rhelOSRelease, "", "rhel", "fedora", "rhel", "rhel"},
		{ubuntuOSRelease, "", "ubuntu", "debian", "debian", "debian"},
		{debianOSRelease, "/etc/sysconfig\n", "debian", "", "debian", "debian"},
		{"ID='rocky'\nID_LIKE='rhel centos fedora'\n", "", "rocky", "rhel centos fedora", "rhel", "rhel"},
		{"ID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"", "", "amzn", "centos rhel fedora", "rhel", "rhel"},
		{"ID=ol\n", "", "ol", "", "rhel", "rhel"},
		{"ID=eurolinux\nID_LIKE=\"rhel fedora centos\"\n", "", "eurolinux", "rhel fedora centos", "rhel", "rhel"},
		{"ID=almalinux\n", "", "almalinux", "", "rhel", "rhel"},
		{"# a comment\n\nID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", "", "linuxmint", "ubuntu debian", "debian", "debian"},
		{"ID=\"my\\\"distro\"\nID_LIKE=\"weird\\\\like\"\n", "", `my"distro`, `weird\like`, "other", "rhel"},
		{"ID=gentoo\n", "/etc/sysconfig\n/etc/debian_version\n", "gentoo", "", "other", "rhel"},
		{"ID=arch\n", "/etc/iptables\n", "arch", "", "other", "debian"},
		{"ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n", "/etc/debian_version\n", "opensuse-tumbleweed", "opensuse suse", "other", "debian"},
		{"ID=\"fedoraish\"\nID_LIKE=\"notfedora\"", "", "fedoraish", "notfedora", "other", "rhel"},
	}
	for _, tt := range tests {
		got, err := ParseFacts(out("os_release", tt.osRelease, "exists", tt.exists))
		if err != nil {
			t.Fatalf("%q: %v", tt.osRelease, err)
		}
		if got.OSID != tt.id || got.OSIDLike != tt.like || got.OSFamily != tt.fam || got.FileLayout != tt.files {
			t.Errorf("%q + exists %q: got ID=%q ID_LIKE=%q family=%q layout=%q, want %q %q %q %q",
				tt.osRelease, tt.exists, got.OSID, got.OSIDLike, got.OSFamily, got.FileLayout, tt.id, tt.like, tt.fam, tt.files)
		}
	}
}

func TestParseFactsErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"empty":             "",
		"not script output": "sh: 1: syntax error\n",
		"truncated":         strings.TrimSuffix(out("uname_r", "6.1.0"), "\n@@ctfacts:end\n"),
		"end before begin":  "@@ctfacts:end\n@@ctfacts:begin\n@@ctfacts:uname_r\n6.1.0\n",
		"bad max":           out("nf_max", "lots\n"),
		"bad count":         out("nf_max", "1\n", "nf_count", "-\n"),
		"bad buckets":       out("ip_max", "1\n", "ip_buckets", "0x10\n"),
		"bad hashsize":      out("nf_max", "1\n", "nf_hashsize", "1e3\n"),
		"bad mode":          out("nf_max", "1\n", "nf_max_mode", "rw-r--r--\n"),
		"bad stat":          out("nf_stat", modernStatHeader+"0000000g\n"),
		"bad memtotal":      out("memtotal", "MemTotal: many kB\n"),
	}
	for name, in := range tests {
		if f, err := ParseFacts(in); err == nil {
			t.Errorf("%s: ParseFacts succeeded (%s), want error", name, dump(f))
		}
	}
}

// TestModuleState checks each clue alone and that the order of precedence is
// loaded, builtin, available, absent.
func TestModuleState(t *testing.T) {
	t.Parallel()
	const (
		procModules = "nf_conntrack 172032 4 xt_CT,nf_nat,xt_conntrack, Live 0x0000000000000000\n"
		builtinList = "kernel/net/netfilter/nf_conntrack_ftp.ko\nkernel/net/netfilter/nf_conntrack.ko\n"
		moduleFile  = "/lib/modules/6.1.0/kernel/net/netfilter/nf_conntrack.ko.zst\n"
	)
	tests := []struct {
		name string
		out  string
		want ModuleState
	}{
		{"nothing", out(), ModuleAbsent},
		{"listed in /proc/modules", out("proc_modules", procModules), ModuleLoaded},
		{"legacy name in /proc/modules", out("proc_modules", "ip_conntrack 53025 3 ip_nat, Live 0xf8a5c000"), ModuleLoaded},
		{"only a helper in /proc/modules", out("proc_modules", "nf_conntrack_ftp 24576 0 - Live 0x0\n"), ModuleAbsent},
		{"sysfs initstate", out("exists", "/sys/module/nf_conntrack\n/sys/module/nf_conntrack/initstate\n"), ModuleLoaded},
		{"listed in modules.builtin", out("modules_builtin", builtinList), ModuleBuiltin},
		{"legacy in modules.builtin", out("modules_builtin", "kernel/net/ipv4/netfilter/ip_conntrack.ko"), ModuleBuiltin},
		{"only a helper in modules.builtin", out("modules_builtin", "kernel/net/netfilter/nf_conntrack_ftp.ko\n"), ModuleAbsent},
		{"sysfs dir without initstate", out("exists", "/sys/module/nf_conntrack\n"), ModuleBuiltin},
		{"module file", out("module_file", moduleFile), ModuleAvailable},
		{"helper module file", out("module_file", "/lib/modules/6.1.0/kernel/net/netfilter/nf_conntrack_ftp.ko\n"), ModuleAbsent},
		{"sysctls only", out("nf_max", "65536\n"), ModuleBuiltin},
		{"loaded beats the rest", out("proc_modules", procModules, "modules_builtin", builtinList, "module_file", moduleFile), ModuleLoaded},
		{"builtin beats a module file", out("modules_builtin", builtinList, "module_file", moduleFile), ModuleBuiltin},
		// Running (sysctls) and a module (file): loaded, whatever hid it.
		{"sysctls and a module file", out("module_file", moduleFile, "nf_max", "65536\n"), ModuleLoaded},
	}
	for _, tt := range tests {
		f, err := ParseFacts(tt.out)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if f.Module != tt.want {
			t.Errorf("%s: Module = %q, want %q", tt.name, f.Module, tt.want)
		}
	}
}

func TestFillPercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		count, max *int64
		want       *float64
	}{
		{i64(12), i64(65536), ptrf(0.02)},
		{i64(1), i64(3), ptrf(33.33)},
		{i64(2), i64(3), ptrf(66.67)},
		{i64(65536), i64(65536), ptrf(100)},
		{i64(0), i64(10), ptrf(0)},
		{i64(5), i64(0), nil},
		{nil, i64(10), nil},
		{i64(5), nil, nil},
	}
	for _, tt := range tests {
		got := Facts{Count: tt.count, Max: tt.max}.FillPercent()
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("FillPercent(%v/%v) = %v, want %v", deref(tt.count), deref(tt.max), derefF(got), derefF(tt.want))
		}
	}
}

func ptrf(f float64) *float64 { return &f }
func u64(v uint64) *uint64    { return &v }

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
func derefF(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestHasConntrack(t *testing.T) {
	t.Parallel()
	if (Facts{}).HasConntrack() {
		t.Error("zero Facts has conntrack")
	}
	if !(Facts{Naming: NamingLegacy}).HasConntrack() {
		t.Error("legacy Facts has no conntrack")
	}
}

func TestModuleStates(t *testing.T) {
	t.Parallel()
	want := []ModuleState{"loaded", "builtin", "available", "absent"}
	if !reflect.DeepEqual(ModuleStates, want) {
		t.Errorf("ModuleStates = %v, want %v", ModuleStates, want)
	}
}

// TestFactsScriptReadOnly guards that the script cannot load kernel modules:
// these tools may autoload conntrack (or are module tools outright). The one
// allowed mention is the /etc/iptables directory whose existence is a fact.
func TestFactsScriptReadOnly(t *testing.T) {
	t.Parallel()
	s := strings.ReplaceAll(FactsScript(), "/etc/iptables", "")
	banned := regexp.MustCompile(`(?i)\b(sysctl|iptables|ip6tables|nft|modprobe|lsmod|insmod|rmmod)\b`)
	if m := banned.FindAllString(s, -1); m != nil {
		t.Errorf("FactsScript mentions %q", m)
	}
	if strings.Contains(s, "'") {
		t.Error("FactsScript contains a single quote; transports wrap it in '...'")
	}
}

// TestFactsScriptOnThisHost runs the real script with every POSIX shell at
// hand and checks it against files read here directly.
func TestFactsScriptOnThisHost(t *testing.T) {
	t.Parallel()
	release, err := exec.Command("uname", "-r").Output()
	if err != nil {
		t.Fatal(err)
	}
	memTotal := readMemTotal(t)

	shells := [][]string{{"/bin/sh"}}
	for _, s := range [][]string{{"dash"}, {"bash", "--posix"}, {"busybox", "sh"}} {
		if _, err := exec.LookPath(s[0]); err == nil {
			shells = append(shells, s)
		}
	}
	var first *Facts
	for _, sh := range shells {
		name := strings.Join(sh, " ")
		f := runScript(t, name, nil, sh...)
		if f.KernelRelease != strings.TrimSpace(string(release)) {
			t.Errorf("%s: KernelRelease = %q, want %q", name, f.KernelRelease, release)
		}
		if f.MemoryBytes != memTotal*1024 {
			t.Errorf("%s: MemoryBytes = %d, want %d", name, f.MemoryBytes, memTotal*1024)
		}
		checkMax(t, name, f)
		checkBuckets(t, name, f)
		checkBuiltinWithoutModules(t, name, f)
		if first == nil {
			first = &f
		} else if a, b := stable(*first), stable(f); !reflect.DeepEqual(a, b) {
			t.Errorf("%s disagrees with %s:\n%s\n%s", name, shells[0][0], dump(b), dump(a))
		}
	}

	// Busybox systems have busybox's cat, stat, grep and find too.
	if bb, err := exec.LookPath("busybox"); err == nil {
		dir := t.TempDir()
		for _, applet := range []string{"sh", "cat", "stat", "grep", "find", "uname", "printf"} {
			if err := os.Symlink(bb, filepath.Join(dir, applet)); err != nil {
				t.Fatal(err)
			}
		}
		f := runScript(t, "busybox applets only", []string{"PATH=" + dir}, filepath.Join(dir, "sh"))
		checkMax(t, "busybox applets only", f)
		if a, b := stable(*first), stable(f); !reflect.DeepEqual(a, b) {
			t.Errorf("busybox applets disagree with %s:\n%s\n%s", shells[0][0], dump(b), dump(a))
		}
	}
}

func runScript(t *testing.T, name string, env []string, argv ...string) Facts {
	t.Helper()
	cmd := exec.Command(argv[0], append(argv[1:], "-c", FactsScript())...)
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: script failed: %v\n%s", name, err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("%s: script wrote to stderr: %s", name, stderr.String())
	}
	f, err := ParseFacts(stdout.String())
	if err != nil {
		t.Fatalf("%s: ParseFacts: %v\n%s", name, err, stdout.String())
	}
	return f
}

func checkMax(t *testing.T, name string, f Facts) {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		if f.Max != nil || f.Naming == NamingModern {
			t.Errorf("%s: no nf_conntrack_max (%v) but Naming=%q Max=%v", name, err, f.Naming, deref(f.Max))
		}
		return
	}
	want, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if f.Naming != NamingModern || f.Max == nil || *f.Max != want {
		t.Errorf("%s: Naming=%q Max=%v, want %q %d", name, f.Naming, deref(f.Max), NamingModern, want)
	}
}

// machineBuckets is the machine's bucket count as this user can read it:
// the hashsize parameter (root-only on current kernels), else the buckets
// sysctl (readable by anyone).
func machineBuckets() (string, bool) {
	for _, p := range []string{"/sys/module/nf_conntrack/parameters/hashsize", "/proc/sys/net/netfilter/nf_conntrack_buckets"} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b)), true
		}
	}
	return "", false
}

func checkBuckets(t *testing.T, name string, f Facts) {
	t.Helper()
	want, ok := machineBuckets()
	switch {
	case !ok && f.Buckets != nil:
		t.Errorf("%s: Buckets = %d, but this user can read no bucket count here", name, *f.Buckets)
	case ok && (f.Buckets == nil || strconv.FormatInt(*f.Buckets, 10) != want):
		t.Errorf("%s: Buckets = %v, want %s", name, deref(f.Buckets), want)
	}
}

// checkBuiltinWithoutModules covers kernels like this test machine's: no
// /proc/modules, nf_conntrack built in with only parameters/ in sysfs.
func checkBuiltinWithoutModules(t *testing.T, name string, f Facts) {
	t.Helper()
	if !exists("/proc/modules") && exists("/sys/module/nf_conntrack") && !exists("/sys/module/nf_conntrack/initstate") {
		if f.Module != ModuleBuiltin {
			t.Errorf("%s: Module = %q, want %q", name, f.Module, ModuleBuiltin)
		}
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// stable drops the fields that change from one run to the next.
func stable(f Facts) Facts {
	f.Count, f.Stats = nil, nil
	return f
}

func readMemTotal(t *testing.T) int64 {
	t.Helper()
	fh, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "MemTotal:" {
			n, err := strconv.ParseInt(fs[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

func FuzzParseFacts(f *testing.F) {
	for _, tc := range factsCases {
		f.Add(tc.out)
	}
	f.Add(out("nf_max", "-5", "nf_count", "-3"))
	f.Add("@@ctfacts:begin\n@@ctfacts:end")
	f.Fuzz(func(t *testing.T, s string) {
		facts, err := ParseFacts(s)
		if err != nil {
			return
		}
		p := facts.FillPercent()
		if facts.Count == nil || facts.Max == nil || *facts.Max <= 0 {
			if p != nil {
				t.Errorf("FillPercent = %v without a usable Count and Max", *p)
			}
			return
		}
		if p == nil {
			t.Errorf("FillPercent = nil with Count=%d Max=%d", *facts.Count, *facts.Max)
		} else if *facts.Count >= 0 && *p < 0 {
			t.Errorf("FillPercent = %v < 0 with Count=%d Max=%d", *p, *facts.Count, *facts.Max)
		}
	})
}

// The bucket count comes from the hashsize parameter where the read could
// open it (root): kernels without f6351c3f1c27 show a stale sysctl after a
// hashsize write. Without it (any other user), from the sysctl.
func TestBucketsSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		out  string
		want any
	}{
		{"root: both, stale sysctl", out("nf_max", "65536\n", "nf_buckets", "16384\n", "nf_hashsize", "65536\n"), int64(65536)},
		{"any user: the sysctl", out("nf_max", "65536\n", "nf_buckets", "16384\n"), int64(16384)},
		{"no sysctl (old kernel)", out("nf_max", "65536\n", "nf_hashsize", "8192\n"), int64(8192)},
		{"neither", out("nf_max", "65536\n"), nil},
	} {
		f, err := ParseFacts(tc.out)
		if err != nil || deref(f.Buckets) != tc.want {
			t.Errorf("%s: Buckets = %v, %v, want %v", tc.name, deref(f.Buckets), err, tc.want)
		}
	}
}
