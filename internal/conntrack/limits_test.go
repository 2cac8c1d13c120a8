package conntrack

import (
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestBootOrderAndLaterOverrides(t *testing.T) {
	t.Parallel()
	rows := []string{
		"/etc/sysctl.d/10-low.conf\t/etc/sysctl.d/10-low.conf\tnet.netfilter.nf_conntrack_max = 1000",
		"/etc/sysctl.d/99-sysctl.conf\t/etc/sysctl.conf\tnet.netfilter.nf_conntrack_max=2000",
		"/etc/sysctl.d/zz-late.conf\t/etc/sysctl.d/zz-late.conf\tnet/netfilter/nf_conntrack_max = 3000",
		"/etc/sysctl.d/zz-late.conf\t/etc/sysctl.d/zz-late.conf\t# net.netfilter.nf_conntrack_max = 9",
		"/run/sysctl.d/zz-late.conf\t/run/sysctl.d/zz-late.conf\tnet.netfilter.nf_conntrack_max = 4000",
		"/usr/lib/sysctl.d/50-vendor.conf\t/usr/lib/sysctl.d/50-vendor.conf\t-net.netfilter.nf_conntrack_udp_timeout = 60",
		"/etc/sysctl.conf\t/etc/sysctl.conf\tnet.netfilter.nf_conntrack_max=2000",
	}
	var got []string
	for _, s := range bootOrder(rows) {
		got = append(got, s.File+" "+s.Key+"="+s.Value)
	}
	want := []string{
		"/etc/sysctl.d/10-low.conf net.netfilter.nf_conntrack_max=1000",
		"/usr/lib/sysctl.d/50-vendor.conf net.netfilter.nf_conntrack_udp_timeout=60",
		"/etc/sysctl.d/99-sysctl.conf net.netfilter.nf_conntrack_max=2000",
		"/etc/sysctl.d/zz-late.conf net.netfilter.nf_conntrack_max=3000",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("boot order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	boot := Limits{Boot: bootOrder(rows)}
	key := "net.netfilter.nf_conntrack_max"
	if o := boot.LaterOverrides("/etc/sysctl.conf", key, "2000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.d/zz-late.conf"}) {
		t.Fatalf("sysctl.conf overrides: %v", o)
	}
	if o := boot.LaterOverrides("/etc/sysctl.d/zz-late.conf", key, "3000"); len(o) != 0 {
		t.Fatalf("the last file has no overrides: %v", o)
	}
	if o := boot.LaterOverrides("/etc/sysctl.d/05-mine.conf", key, "3000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.d/10-low.conf", "/etc/sysctl.d/99-sysctl.conf"}) {
		t.Fatalf("an early file is overridden by every later different value: %v", o)
	}
	// Without a sysctl.d link, /etc/sysctl.conf is read last.
	noLink := Limits{Boot: bootOrder([]string{rows[0], rows[6]})}
	if o := noLink.LaterOverrides("/etc/sysctl.d/10-low.conf", key, "1000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.conf"}) {
		t.Fatalf("unlinked sysctl.conf: %v", o)
	}
	// Linked, but sysctl.conf sets nothing yet: it still runs at the link's
	// place, before zz-late.conf.
	linkedEmpty := Limits{Boot: bootOrder([]string{rows[0], rows[2]}), BootLinks: map[string]string{"/etc/sysctl.d/99-sysctl.conf": "/etc/sysctl.conf"}}
	if o := linkedEmpty.LaterOverrides("/etc/sysctl.conf", key, "2000"); !reflect.DeepEqual(o, []string{"/etc/sysctl.d/zz-late.conf"}) {
		t.Fatalf("linked sysctl.conf without a conntrack line: %v", o)
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
