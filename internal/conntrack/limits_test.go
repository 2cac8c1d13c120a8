package conntrack

import (
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// bootFixture is a host's boot files: rows as ParseLimits builds them, the
// files present and their links.
type bootFixture struct {
	rows  []string
	files []string
	links map[string]string
}

func (f bootFixture) limits(systemd bool) Limits {
	return Limits{Boot: bootOrder(f.rows, f.files, f.links, systemd), BootFiles: f.files, BootLinks: f.links, Systemd: systemd}
}

func bootLines(l Limits) []string {
	var got []string
	for _, s := range l.Boot {
		got = append(got, s.File+" "+s.Key+"="+s.Value)
	}
	return got
}

// A Debian 12 / RHEL shape: a 99-sysctl.conf link to /etc/sysctl.conf,
// vendor files, a same-named file in /run masked by /etc's.
var linkedHost = bootFixture{
	rows: []string{
		"/etc/sysctl.d/10-low.conf\t/etc/sysctl.d/10-low.conf\tnet.netfilter.nf_conntrack_max = 1000",
		"/etc/sysctl.d/99-sysctl.conf\t/etc/sysctl.conf\tnet.netfilter.nf_conntrack_max=2000",
		"/etc/sysctl.d/zz-late.conf\t/etc/sysctl.d/zz-late.conf\tnet/netfilter/nf_conntrack_max = 3000",
		"/etc/sysctl.d/zz-late.conf\t/etc/sysctl.d/zz-late.conf\t# net.netfilter.nf_conntrack_max = 9",
		"/run/sysctl.d/zz-late.conf\t/run/sysctl.d/zz-late.conf\tnet.netfilter.nf_conntrack_max = 4000",
		"/usr/lib/sysctl.d/50-vendor.conf\t/usr/lib/sysctl.d/50-vendor.conf\t-net.netfilter.nf_conntrack_udp_timeout = 60",
		"/etc/sysctl.conf\t/etc/sysctl.conf\tnet.netfilter.nf_conntrack_max=2000",
	},
	files: []string{"/etc/sysctl.d/10-low.conf", "/etc/sysctl.d/99-sysctl.conf", "/etc/sysctl.d/zz-late.conf",
		"/run/sysctl.d/zz-late.conf", "/usr/lib/sysctl.d/50-vendor.conf", "/etc/sysctl.conf"},
	links: map[string]string{"/etc/sysctl.d/99-sysctl.conf": "/etc/sysctl.conf"},
}

func TestBootOrderUnderSystemdSysctl(t *testing.T) {
	t.Parallel()
	l := linkedHost.limits(true)
	want := []string{
		"/etc/sysctl.d/10-low.conf net.netfilter.nf_conntrack_max=1000",
		"/usr/lib/sysctl.d/50-vendor.conf net.netfilter.nf_conntrack_udp_timeout=60",
		"/etc/sysctl.d/99-sysctl.conf net.netfilter.nf_conntrack_max=2000",
		"/etc/sysctl.d/zz-late.conf net.netfilter.nf_conntrack_max=3000",
	}
	if got := bootLines(l); !reflect.DeepEqual(got, want) {
		t.Fatalf("boot order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	key := "net.netfilter.nf_conntrack_max"
	if o := l.LaterOverrides("/etc/sysctl.conf", key, "2000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.d/zz-late.conf"}) {
		t.Fatalf("sysctl.conf runs at its link's place: %v", o)
	}
	if o := l.LaterOverrides("/etc/sysctl.d/zz-late.conf", key, "3000"); len(o) != 0 {
		t.Fatalf("the last file has no overrides: %v", o)
	}
	if o := l.LaterOverrides("/etc/sysctl.d/05-mine.conf", key, "3000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.d/10-low.conf", "/etc/sysctl.d/99-sysctl.conf"}) {
		t.Fatalf("an early file is overridden by every later different value: %v", o)
	}
	for _, f := range []string{"/etc/sysctl.conf", "/etc/sysctl.d/90-conntrack.conf", "/etc/sysctl.d/zz-late.conf"} {
		if ok, why := l.ReadAtBoot(f); !ok {
			t.Fatalf("%s is read at boot: %s", f, why)
		}
	}
	if ok, _ := l.ReadAtBoot("/run/sysctl.d/zz-late.conf"); ok {
		t.Fatal("/etc/sysctl.d/zz-late.conf masks /run's")
	}
	// Linked, but sysctl.conf sets nothing yet: it still runs at the link's
	// place, before zz-late.conf.
	empty := bootFixture{rows: []string{linkedHost.rows[0], linkedHost.rows[2]}, files: linkedHost.files, links: linkedHost.links}.limits(true)
	if o := empty.LaterOverrides("/etc/sysctl.conf", key, "2000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.d/zz-late.conf"}) {
		t.Fatalf("linked sysctl.conf without a conntrack line: %v", o)
	}
}

// Debian 13 / Ubuntu 24.10: no link, so systemd-sysctl never reads
// /etc/sysctl.conf, even when an old one is there.
func TestBootWithoutTheSysctlConfLink(t *testing.T) {
	t.Parallel()
	host := bootFixture{rows: []string{linkedHost.rows[0], linkedHost.rows[6]}, files: []string{"/etc/sysctl.d/10-low.conf", "/etc/sysctl.conf"}}
	l := host.limits(true)
	if got := bootLines(l); !reflect.DeepEqual(got, []string{"/etc/sysctl.d/10-low.conf net.netfilter.nf_conntrack_max=1000"}) {
		t.Fatalf("systemd-sysctl applies only sysctl.d: %v", got)
	}
	if ok, why := l.ReadAtBoot("/etc/sysctl.conf"); ok || !strings.Contains(why, "no link there points to /etc/sysctl.conf") {
		t.Fatalf("sysctl.conf without a link: %v %q", ok, why)
	}
	if o := l.LaterOverrides("/etc/sysctl.d/10-low.conf", "net.netfilter.nf_conntrack_max", "1000"); len(o) != 0 {
		t.Fatalf("a file that is not read overrides nothing: %v", o)
	}
	// A link that is itself masked does not count.
	masked := bootFixture{files: []string{"/etc/sysctl.d/99-sysctl.conf", "/usr/lib/sysctl.d/99-sysctl.conf"},
		links: map[string]string{"/etc/sysctl.d/99-sysctl.conf": "/dev/null", "/usr/lib/sysctl.d/99-sysctl.conf": "/etc/sysctl.conf"}}.limits(true)
	if ok, _ := masked.ReadAtBoot("/etc/sysctl.conf"); ok {
		t.Fatal("the link to sysctl.conf is masked by /etc's /dev/null link")
	}
	// Under `sysctl --system` (SysV init) sysctl.conf is read last.
	sysv := host.limits(false)
	want := []string{"/etc/sysctl.d/10-low.conf net.netfilter.nf_conntrack_max=1000", "/etc/sysctl.conf net.netfilter.nf_conntrack_max=2000"}
	if got := bootLines(sysv); !reflect.DeepEqual(got, want) {
		t.Fatalf("sysctl --system: %v", got)
	}
	if ok, _ := sysv.ReadAtBoot("/etc/sysctl.conf"); !ok {
		t.Fatal("sysctl --system reads /etc/sysctl.conf")
	}
	if o := sysv.LaterOverrides("/etc/sysctl.d/10-low.conf", "net.netfilter.nf_conntrack_max", "1000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.conf"}) {
		t.Fatalf("sysctl.conf is read last: %v", o)
	}
}

// Under sysctl --system a linked sysctl.conf runs twice, at the link and
// last, and is reported once.
func TestBootSysVLinkedSysctlConfIsLast(t *testing.T) {
	t.Parallel()
	l := linkedHost.limits(false)
	if o := l.LaterOverrides("/etc/sysctl.conf", "net.netfilter.nf_conntrack_max", "2000"); len(o) != 0 {
		t.Fatalf("nothing runs after sysctl.conf: %v", o)
	}
	if o := l.LaterOverrides("/etc/sysctl.d/zz-late.conf", "net.netfilter.nf_conntrack_max", "3000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.conf"}) {
		t.Fatalf("sysctl.conf, once: %v", o)
	}
}

// A /dev/null link masks a vendor file; so does a same-named file that
// sets nothing about conntrack.
func TestBootMasks(t *testing.T) {
	t.Parallel()
	host := bootFixture{
		rows: []string{
			"/usr/lib/sysctl.d/50-vendor.conf\t/usr/lib/sysctl.d/50-vendor.conf\tnet.netfilter.nf_conntrack_max = 10",
			"/usr/lib/sysctl.d/60-other.conf\t/usr/lib/sysctl.d/60-other.conf\tnet.netfilter.nf_conntrack_max = 20",
			"/usr/lib/sysctl.d/70-kept.conf\t/usr/lib/sysctl.d/70-kept.conf\tnet.netfilter.nf_conntrack_max = 30",
		},
		files: []string{"/etc/sysctl.d/50-vendor.conf", "/run/sysctl.d/60-other.conf",
			"/usr/lib/sysctl.d/50-vendor.conf", "/usr/lib/sysctl.d/60-other.conf", "/usr/lib/sysctl.d/70-kept.conf"},
		links: map[string]string{"/etc/sysctl.d/50-vendor.conf": "/dev/null"},
	}
	for _, systemd := range []bool{true, false} {
		l := host.limits(systemd)
		if got := bootLines(l); !reflect.DeepEqual(got, []string{"/usr/lib/sysctl.d/70-kept.conf net.netfilter.nf_conntrack_max=30"}) {
			t.Fatalf("systemd %t: %v", systemd, got)
		}
		if ok, why := l.ReadAtBoot("/etc/sysctl.d/50-vendor.conf"); ok || !strings.Contains(why, "/dev/null") {
			t.Fatalf("a mask is not read: %v %q", ok, why)
		}
	}
}

func TestParseFileKeepsExactBytes(t *testing.T) {
	t.Parallel()
	for _, content := range []string{"", "a = 1", "a = 1\n", "a = 1\r\nb = 2\r\n", "\n\n", "x\n\n", "x", "xx\n"} {
		body := "file\n" + content + "x\n"
		f, err := parseFile(body, "/etc/x")
		if err != nil || !f.Exists || string(f.Content) != content {
			t.Fatalf("%q: got %q, %+v, %v", content, f.Content, f, err)
		}
	}
	if f, _ := parseFile("none\n", "/etc/x"); f.Exists {
		t.Fatal("none means missing")
	}
	if f, _ := parseFile("dir\n", "/etc/x"); !f.IsDir {
		t.Fatal("dir")
	}
	if _, err := parseFile("file\ncut sho", "/etc/x"); err == nil {
		t.Fatal("a truncated file must be an error")
	}
}

// The script runs here for real, as whichever user runs the tests: what it
// reports must be what this machine shows that user, whatever its kernel
// (conntrack built in, a module, or not loaded; hashsize is root-only, and
// a user who cannot read it still gets the buckets from the sysctl).
func TestLimitsScriptOnThisMachine(t *testing.T) {
	t.Parallel()
	paths := LimitsPaths{SysctlFile: "/etc/sysctl.conf", ModprobeFile: "/etc/modprobe.d/ctt-none.conf", ModulesLoadFile: "/etc"}
	script, args := LimitsScript(paths)
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseLimits(string(out), paths)
	if err != nil {
		t.Fatal(err)
	}
	machineMax, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	switch {
	case err != nil && l.Running["max"] != "":
		t.Fatalf("running max %q, but this machine has no readable nf_conntrack_max (%v)", l.Running["max"], err)
	case err == nil && (l.Running["max"] != strings.TrimSpace(string(machineMax)) || l.Running["tcp_timeout_established"] == ""):
		t.Fatalf("running: max %q, established %q", l.Running["max"], l.Running["tcp_timeout_established"])
	}
	if l.Modprobe.Exists || !l.ModulesLoad.IsDir {
		t.Fatalf("files: %+v %+v", l.Modprobe, l.ModulesLoad)
	}
	// Buckets: what this user can read of the machine (the hashsize
	// parameter is root-only, the buckets sysctl is not).
	want, ok := machineBuckets()
	switch {
	case !ok && l.Facts.Buckets != nil:
		t.Fatalf("buckets %d read, but this user can read neither hashsize nor nf_conntrack_buckets here", *l.Facts.Buckets)
	case ok && (l.Facts.Buckets == nil || strconv.FormatInt(*l.Facts.Buckets, 10) != want):
		t.Fatalf("buckets %v, want %s", deref(l.Facts.Buckets), want)
	}
}

func TestSysctlKeyNaming(t *testing.T) {
	t.Parallel()
	if k := SysctlKey(NamingLegacy, "max"); k != "net.ipv4.netfilter.ip_conntrack_max" || ProcPath(k) != "/proc/sys/net/ipv4/netfilter/ip_conntrack_max" {
		t.Fatal(k)
	}
	if k := SysctlKey(NamingModern, "udp_timeout"); k != "net.netfilter.nf_conntrack_udp_timeout" {
		t.Fatal(k)
	}
}
