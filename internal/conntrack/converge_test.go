package conntrack

import (
	"testing"
)

func TestEditFiles(t *testing.T) {
	t.Parallel()
	l := Limits{
		Facts:       Facts{Naming: NamingModern},
		Sysctl:      File{Path: "/etc/sysctl.conf", Exists: true, Content: []byte("# mine\nnet.netfilter.nf_conntrack_max=1\nvm.x = 1\nnet.netfilter.nf_conntrack_udp_timeout = 30\n")},
		Modprobe:    File{Path: "/etc/modprobe.d/iptables.conf", Exists: true, Content: []byte("options nf_conntrack hashsize=1\n")},
		ModulesLoad: File{Path: "/etc/modules-load.d/conntrack.conf"},
	}
	want := Managed{Sysctls: map[string]string{"max": "524288", "tcp_timeout_established": "3600"}, Buckets: "65536", LoadModule: true}
	prev := Managed{Sysctls: map[string]string{"udp_timeout": "30"}}
	got := map[string]string{}
	for _, f := range l.EditFiles(want, prev) {
		got[f.Path] = string(f.Content)
	}
	expect := map[string]string{
		"/etc/sysctl.conf":                   "# mine\nnet.netfilter.nf_conntrack_max=524288\nvm.x = 1\nnet.netfilter.nf_conntrack_tcp_timeout_established = 3600\n",
		"/etc/modprobe.d/iptables.conf":      "options nf_conntrack hashsize=65536\n",
		"/etc/modules-load.d/conntrack.conf": "nf_conntrack\n",
	}
	for p, w := range expect {
		if got[p] != w {
			t.Errorf("%s:\n%q\nwant\n%q", p, got[p], w)
		}
	}
	// Converged files change no more; releasing everything removes only owned lines.
	l.Sysctl.Content, l.Modprobe.Content, l.ModulesLoad.Content = []byte(got["/etc/sysctl.conf"]), []byte(got["/etc/modprobe.d/iptables.conf"]), []byte(got["/etc/modules-load.d/conntrack.conf"])
	if changed := l.EditFiles(want, want); len(changed) != 0 {
		t.Fatalf("a converged host changed: %v", changed)
	}
	for _, f := range l.EditFiles(Managed{}, want) {
		got[f.Path] = string(f.Content)
	}
	if got["/etc/sysctl.conf"] != "# mine\nvm.x = 1\n" || got["/etc/modprobe.d/iptables.conf"] != "" || got["/etc/modules-load.d/conntrack.conf"] != "" {
		t.Fatalf("release: %q", got)
	}
	// Legacy kernels use the ip_conntrack names.
	if v, _ := (Limits{Facts: Facts{Naming: NamingLegacy}, Sysctl: File{Content: []byte("net.ipv4.netfilter.ip_conntrack_max = 65536\n")}}).PersistedSysctl("max"); v != "65536" {
		t.Fatalf("legacy persisted max: %q", v)
	}
	if v, _ := (Limits{Facts: Facts{Naming: NamingLegacy}, Modprobe: File{Content: []byte("options ip_conntrack hashsize=8192\n")}}).PersistedBuckets(); v != "8192" {
		t.Fatalf("legacy buckets: %q", v)
	}
}
