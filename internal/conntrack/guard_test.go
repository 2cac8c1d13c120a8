package conntrack

import (
	"reflect"
	"strings"
	"testing"
)

func TestGuardArgsStayPositional(t *testing.T) {
	t.Parallel()
	g := Guard{Seconds: 12, Kind: GuardFirewall(6), Label: "adding x\nand y",
		Tables: []GuardTable{{"ip6tables", "raw"}}, Files: []string{"/etc/a b"},
		Undo: []GuardService{{"systemd", "iptables", "stop"}}, Values: []string{"/proc/sys/x y"}}
	script, args := ArmScript(g)
	want := []string{"12", "firewall6", "adding x and y", "1", "ip6tables", "raw", "1", "/etc/a b", "1", "systemd", "iptables", "stop", "1", "/proc/sys/x y"}
	if !reflect.DeepEqual(args, want) {
		t.Fatalf("args %q, want %q", args, want)
	}
	for _, v := range []string{"/etc/a b", "adding x", "/proc/sys/x y"} {
		if strings.Contains(script, v) {
			t.Fatalf("value %q spliced into the script", v)
		}
	}
}

func TestNotrackScriptTablesAndFields(t *testing.T) {
	t.Parallel()
	_, args, tables := NotrackScript("iptables", []Change{
		{Op: "add", Table: "raw", Chain: "PREROUTING", Args: []string{"-p", "tcp", "*"}},
		{Op: "ins", Table: "filter", Chain: "INPUT", Args: []string{"-j", "ACCEPT"}},
		{Op: "add", Table: "raw", Chain: "OUTPUT"},
	})
	if !reflect.DeepEqual(tables, []GuardTable{{"iptables", "raw"}, {"iptables", "filter"}}) {
		t.Fatalf("tables %v", tables)
	}
	if args[1] != "add\037raw\037PREROUTING\037-p\037tcp\037*" {
		t.Fatalf("change %q", args[1])
	}
	// The body splits changes only with globbing off: a "*" field must not
	// expand to file names.
	i := strings.Index(notrackBody, "set -f")
	if i < 0 || i > strings.Index(notrackBody, "set -- $change") {
		t.Fatal("notrackBody splits a change before set -f")
	}
}

func TestParseGuardedAndSettle(t *testing.T) {
	t.Parallel()
	r := ParseGuarded("noise\n@@armed\t/run/conntrack-tf-guard.1.services.x\tsystemd\n@@fail\tiptables start\tboom\n")
	if r.Dir != "/run/conntrack-tf-guard.1.services.x" || r.Timer != "systemd" || r.Failed["iptables start"] != "boom" || r.Done {
		t.Fatalf("%+v", r)
	}
	if r := ParseGuarded("@@guardfail\tno /run\n"); r.GuardFail != "no /run" || r.Dir != "" {
		t.Fatalf("%+v", r)
	}
	for out, want := range map[string]Settled{
		"confirmed\n":                      {Confirmed: true},
		"rolled-back\nrestored\n":          {RolledBack: true, Outcome: "restored"},
		"rolled-back\nrestore-failed: x\n": {RolledBack: true, Outcome: "restore-failed: x"},
		"unknown\n":                        {},
		"":                                 {},
	} {
		if got := ParseSettle(out); got != want {
			t.Errorf("%q: %+v, want %+v", out, got, want)
		}
	}
}

func TestGuardOutcomesInReads(t *testing.T) {
	t.Parallel()
	out := "@@ctfacts:begin\n@@ctfacts:guard\nadding NOTRACK rule r1\trestored \nstarting iptables\trestore-failed: stop iptables: no \n@@ctfacts:end\n"
	sec, err := splitSections(out)
	if err != nil {
		t.Fatal(err)
	}
	got := parseGuardOutcomes(sec)
	want := []GuardOutcome{{"adding NOTRACK rule r1", "restored"}, {"starting iptables", "restore-failed: stop iptables: no"}}
	if !reflect.DeepEqual(got, want) || got[0].Failed() || !got[1].Failed() {
		t.Fatalf("%+v", got)
	}
	fw, _ := FirewallScript("", 6)
	sv, _ := ServicesScript(nil)
	li, _ := LimitsScript(LimitsPaths{})
	for name, s := range map[string]string{"firewall": fw, "services": sv, "limits": li} {
		if !strings.Contains(s, "/run/conntrack-tf-guard.") || strings.Index(s, "s guard") > strings.LastIndex(s, "s end") {
			t.Errorf("the %s read does not report guard outcomes before its end", name)
		}
	}
}
