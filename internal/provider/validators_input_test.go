package provider

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/iptables"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

func TestCheckHost(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"web-1", "web-1.example.com", "10.0.0.1", "::1", "fe80::1%eth0", "2001:db8::1", "a", strings.Repeat("a", 63) + ".b"} {
		if err := checkHost(ok); err != nil {
			t.Errorf("checkHost(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-oProxyCommand=id", " web", "web ", "web\n", "a;reboot", "..", ".", "a..b", "a.", "-a", "a-", strings.Repeat("a", 64),
		strings.Repeat("a.", 127) + "a", "fe80::1%eth0\n", "fe80::1%-x", "fe80::1%$(id)", "[::1]", "10.0.0.1:22", "web\x00", "wéb", "web\u202e"} {
		if checkHost(bad) == nil {
			t.Errorf("checkHost(%q) accepted", bad)
		}
	}
}

func TestCheckUser(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"root", "ops", "_svc", "a.b-c_d", strings.Repeat("u", 32)} {
		if err := checkUser(ok); err != nil {
			t.Errorf("checkUser(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-l", "-oProxyCommand=id", " root", "root ", "ro ot", "root\n", "root\t", "1root", strings.Repeat("u", 33), "röot"} {
		if checkUser(bad) == nil {
			t.Errorf("checkUser(%q) accepted", bad)
		}
	}
}

func TestImportIDChecks(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"10.0.0.1", "web-1"} {
		if err := importHostCheck(ok); err != nil {
			t.Errorf("importHostCheck(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", " web", "web\n", "web\r", "we b", "web\x00", "web\x1f", "web\x7f"} {
		if importHostCheck(bad) == nil {
			t.Errorf("importHostCheck(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"10.0.0.1,4,tcp,8080,,", "h,6,udp,53,2001:db8::/32,::1", "h,4,all,,10.0.0.0/8,"} {
		if err := checkNotrackImportID(ok); err != nil {
			t.Errorf("checkNotrackImportID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"h,6,tcp,,fe80::1%eth0,", "h,6,tcp,,,fe80::1%eth0\n-A INPUT", "h,4,tcp,99999,,", "h,4,tcp,, 10.0.0.1,",
		"h,4,tcp,,,10.0.0.1\x1f-j", "-h,4,tcp,,,"} {
		if checkNotrackImportID(bad) == nil {
			t.Errorf("checkNotrackImportID(%q) accepted", bad)
		}
	}
}

func TestPathRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rule pathRule
		ok   []string
		bad  []string
	}{
		{rulesFileRule, []string{"/etc/iptables/rules.v4", "/etc/sysconfig/iptables", "/etc/iptables.rules"},
			[]string{"/etc/../root/x", "/etc/iptables//rules.v4", "/etc/iptables/./rules.v4", "/etc/iptables/", "/etc", "/etc/", "etc/x", "/tmp/x",
				"/etc/-x", "/etc/x y", "/etc/x\n", "/etc/x;id", "/etc/$(id)", "/etcx/y", "/etc/x\x00"}},
		{sysconfigFileRule, []string{"/etc/sysconfig/iptables-config", "/etc/sysconfig/ip6tables-config"},
			[]string{"/etc/iptables-config", "/etc/sysconfig/../../root/x", "/etc/sysconfig/-x", "/etc/sysconfig"}},
		{sysctlFileRule, []string{"/etc/sysctl.conf", "/etc/sysctl.d/90-conntrack.conf"},
			[]string{"/etc/sysctl.d/../sysctl.conf", "/etc/sysctl.d/x", "/etc/sysctl.d/a/b.conf", "/etc/sysctl.d/.conf/../x.conf", "/etc/sysctl.conf/"}},
		{modprobeFileRule, []string{"/etc/modprobe.d/conntrack.conf"},
			[]string{"/etc/modprobe.d/../x.conf", "/etc/modprobe.d/-x.conf", "/etc/modprobe.d/x.conf\n"}},
		{localFileRule, []string{"~/.ssh/id_ed25519", "/home/me/.ssh/known_hosts", "/home/müller/.ssh/id", "/keys/user@host:22"},
			[]string{"id_ed25519", "./id", "~/../x", "~root/.ssh/id", "/a/../b", "/a//b", "/a/", "/", "/a/-x", "/a b", "/a/$(id)", "/a\n", "/a/`id`", "/a/x;id", "/a/\uff0f"}},
	} {
		for _, p := range tc.ok {
			if err := tc.rule.check(p); err != nil {
				t.Errorf("%s: %q refused: %v", tc.rule.what, p, err)
			}
		}
		for _, p := range tc.bad {
			if tc.rule.check(p) == nil {
				t.Errorf("%s: %q accepted", tc.rule.what, p)
			}
		}
	}
}

func TestWordLists(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "nf_conntrack", "nf_conntrack nf_nat"} {
		if err := checkModuleList(ok); err != nil {
			t.Errorf("checkModuleList(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{" ", "a  b", " a", "a ", "-r", "a -r", "a;b", "a\nb", "a\tb", "$(id)"} {
		if checkModuleList(bad) == nil {
			t.Errorf("checkModuleList(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"", ".nf_conntrack", "net.netfilter.nf_conntrack_max net/ipv4/ip_forward"} {
		if err := checkSysctlList(ok); err != nil {
			t.Errorf("checkSysctlList(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"-e", "a -e", "..", "a/../b", "a//b", "a;b", "a\n", "$(id)", "a*"} {
		if checkSysctlList(bad) == nil {
			t.Errorf("checkSysctlList(%q) accepted", bad)
		}
	}
}

func TestSecretAndKeyChecks(t *testing.T) {
	t.Parallel()
	if err := checkText("p@ss w0rd;$(x)`|'\"", maxSecretLen); err != nil {
		t.Errorf("a printable password was refused: %v", err)
	}
	for _, bad := range []string{"pw\n", "pw\x00", "\x1f", "\u202e", "\ufffd", "\xff", strings.Repeat("a", maxSecretLen+1)} {
		if checkText(bad, maxSecretLen) == nil {
			t.Errorf("checkText(%q) accepted", bad)
		}
	}
	key := string(testKeyPEM(t))
	for _, ok := range []string{key, key + "\n", strings.ReplaceAll(key, "\n", "\r\n")} {
		if err := checkPrivateKey(ok); err != nil {
			t.Errorf("a valid key was refused: %v", err)
		}
	}
	for _, bad := range []string{"", "x", key + "$(id)", key + "\x00", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", strings.Repeat("a", 70000)} {
		if checkPrivateKey(bad) == nil {
			t.Errorf("checkPrivateKey(%q...) accepted", bad[:min(len(bad), 20)])
		}
	}
	for _, ok := range []string{"SHA256:" + strings.Repeat("A", 43), "SHA256:" + strings.Repeat("A", 43) + "=", "SHA256:" + strings.Repeat("A", 42) + "E", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"} {
		if err := checkHostKey(ok); err != nil {
			t.Errorf("checkHostKey(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"SHA256:x", "SHA256:" + strings.Repeat("A", 43) + "\n", "SHA256:" + strings.Repeat("A", 42) + "B", "SHA256:" + strings.Repeat("A", 43) + "==", "not a key", "ssh-ed25519 AAAA\n-oProxyCommand=id"} {
		if checkHostKey(bad) == nil {
			t.Errorf("checkHostKey(%q) accepted", bad)
		}
	}
}

// TestSecretErrorsAreNotAttached: a refused secret is reported without an
// attribute path (no source line, which may hold the secret) and never
// quotes it.
func TestSecretErrorsAreNotAttached(t *testing.T) {
	t.Parallel()
	const secret = "hunter2\n"
	for _, v := range []validator.String{secretText("password"), privateKeyValidator("private_key")} {
		var resp validator.StringResponse
		v.ValidateString(t.Context(), validator.StringRequest{Path: path.Root("password"), ConfigValue: types.StringValue(secret)}, &resp)
		if !resp.Diagnostics.HasError() {
			t.Fatalf("%T accepted a newline", v)
		}
		for _, d := range resp.Diagnostics {
			if _, ok := d.(interface{ Path() path.Path }); ok {
				t.Errorf("the secret's error is attached to a path: %v", d)
			}
			if strings.Contains(d.Detail(), "hunter2") {
				t.Errorf("the error shows the secret: %s", d.Detail())
			}
		}
	}
}

// TestValidatorsSkipUnknownAndNull: values from variables or other
// resources are checked when they are known.
func TestValidatorsSkipUnknownAndNull(t *testing.T) {
	t.Parallel()
	for _, v := range []validator.String{hostValidator, userValidator, pathValidator(rulesFileRule), pathValidator(localFileRule), modulesListValidator,
		sysctlListValidator, hostKeyValidator, secretText("password"), privateKeyValidator("private_key"), durationValidator{}} {
		for _, val := range []types.String{types.StringUnknown(), types.StringNull()} {
			var resp validator.StringResponse
			v.ValidateString(t.Context(), validator.StringRequest{Path: path.Root("x"), ConfigValue: val}, &resp)
			if resp.Diagnostics.HasError() {
				t.Errorf("%T refused %s: %v", v, val, resp.Diagnostics)
			}
		}
	}
}

// ---- fuzz: what a validator accepts is safe

// acceptedText asserts the baseline of every accepted value.
func acceptedText(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s accepted invalid UTF-8 %q", what, s)
	}
	for _, r := range s {
		if unsafeRune(r) {
			t.Fatalf("%s accepted %q with the control or format character %U", what, s, r)
		}
	}
}

func FuzzCheckHost(f *testing.F) {
	for _, s := range []string{"web-1.example.com", "10.0.0.1", "fe80::1%eth0", "fe80::1%eth0\n", "-x", "..", "a b", "a\x1fb", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkHost(s) != nil {
			return
		}
		acceptedText(t, "checkHost", s)
		if s == "" || s[0] == '-' || strings.ContainsAny(s, " \t\n\r/\\;|&$`'\"*?") || len(s) > maxHostLen {
			t.Fatalf("checkHost accepted %q", s)
		}
		// A host is a single shell word as is, and an SSH address.
		if sshx.Quote(s) != s && !strings.Contains(s, "%") {
			t.Fatalf("checkHost accepted %q, which needs shell quoting", s)
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() != "" && !zonePattern.MatchString(a.Zone()) {
			t.Fatalf("checkHost accepted the zone of %q", s)
		}
	})
}

func FuzzPathRules(f *testing.F) {
	for _, s := range []string{"/etc/iptables/rules.v4", "/etc/../root/x", "/etc/sysctl.d/x.conf", "~/.ssh/id", "/etc//x", "/etc/x\n", "/etc/-x", "/etc/./x"} {
		f.Add(s, uint8(0))
	}
	rules := []pathRule{rulesFileRule, sysconfigFileRule, sysctlFileRule, modprobeFileRule, localFileRule}
	f.Fuzz(func(t *testing.T, s string, which uint8) {
		rule := rules[int(which)%len(rules)]
		if rule.check(s) != nil {
			return
		}
		acceptedText(t, rule.what, s)
		p := s
		if rule.local && strings.HasPrefix(p, "~/") {
			p = p[1:]
		}
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/-") {
			t.Fatalf("%s: accepted %q, which is not canonical", rule.what, s)
		}
		if !rule.local {
			// Remote paths reach scripts as one argument: they need no quoting at all.
			if sshx.Quote(s) != s {
				t.Fatalf("%s: accepted %q, which needs shell quoting", rule.what, s)
			}
			under := false
			for _, d := range rule.dirs {
				under = under || strings.HasPrefix(s, d+"/")
			}
			for _, f := range rule.files {
				under = under || s == f
			}
			if !under {
				t.Fatalf("%s: accepted %q outside its directories", rule.what, s)
			}
		}
	})
}

// FuzzNotrackAddresses: an address the plan accepts always makes a rule
// that the rules-file editor can write: AddRule never fails on it (issue
// #11: the zone with a newline crashed the plugin there).
func FuzzNotrackAddresses(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.0/8", "2001:db8::/32", "fe80::1%eth0", "fe80::1%eth0\n-A INPUT -j DROP", "fe80::1%\x1f-j\x1fDROP", "::ffff:1.2.3.4"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, six bool) {
		version := 4
		if six {
			version = 6
		}
		if conntrack.ValidateCIDR(s, version) != nil {
			return
		}
		acceptedText(t, "ValidateCIDR", s)
		if strings.Contains(s, "%") {
			t.Fatalf("ValidateCIDR accepted the zone in %q", s)
		}
		rule := conntrack.NotrackRule{IPVersion: version, Protocol: "udp", Port: "53", Source: s, Destination: s, Chains: []string{"OUTPUT", "PREROUTING"}, Target: "CT"}
		f := iptables.Parse([]byte("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"))
		for _, cr := range rule.Rules() {
			if err := f.AddRule("raw", cr.Chain, cr.Args); err != nil {
				t.Fatalf("an accepted address %q makes a rule AddRule refuses: %v", s, err)
			}
		}
	})
}

func FuzzWordLists(f *testing.F) {
	for _, s := range []string{"", "nf_conntrack nf_nat", ".nf_conntrack", "-r", "a  b", "a\nb", "../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, check := range map[string]func(string) error{"modules": checkModuleList, "sysctl_load_list": checkSysctlList} {
			if check(s) != nil {
				continue
			}
			acceptedText(t, name, s)
			for _, w := range strings.Split(s, " ") {
				if s != "" && (w == "" || w[0] == '-' || strings.Contains(w, "..")) {
					t.Fatalf("%s accepted the word %q in %q", name, w, s)
				}
				// Each word is one shell word as is: the service script splits the list on spaces.
				if w != "" && sshx.Quote(w) != w {
					t.Fatalf("%s accepted %q, which needs shell quoting", name, w)
				}
			}
		}
	})
}

func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"ok", "a\nb", "\x00", "\xff", "\u202e", "\u0085", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkText(s, 256) != nil {
			return
		}
		acceptedText(t, "checkText", s)
		if strings.ContainsAny(s, "\n\r\x00\x1f\x7f") || len(s) > 256 {
			t.Fatalf("checkText accepted %q", s)
		}
	})
}

func testKeyPEM(t *testing.T) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}
