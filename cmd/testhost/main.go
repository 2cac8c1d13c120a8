// Command testhost starts and stops namespace test hosts outside of tests,
// for the demo and for trying the provider by hand (root only):
//
//	testhost up -dir .demo -n 1    start hosts, write DIR/hosts.json and DIR/known_hosts
//	testhost exec -dir .demo -i 0 -- CMD...   run a command inside host 0
//	testhost firewall -dir .demo -i 1    install and start the iptables services (SysV) in host 1
//	testhost down -dir .demo       stop them and remove everything
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// firewallRules is a stateful firewall: every connection it accepts is
// tracked.
const firewallRules = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`

// record is what `up` leaves behind for `exec`, `down` and the demo.
type record struct {
	Index          int    `json:"index"`
	Namespace      string `json:"namespace"`
	Addr           string `json:"addr"`
	Port           int    `json:"port"`
	PrivateKeyFile string `json:"private_key_file"`
	SSHDPID        int    `json:"sshd_pid"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", ".demo", "state directory")
	n := fs.Int("n", 1, "number of hosts (up)")
	i := fs.Int("i", 0, "host number in the state directory (exec)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(*dir, *n)
	case "down":
		err = down(*dir)
	case "exec":
		err = execIn(*dir, *i, fs.Args())
	case "firewall":
		err = execIn(*dir, *i, []string{testhost.IptablesServicesScript(false, firewallRules, firewallRules) +
			"service iptables start && service ip6tables start\n"})
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testhost:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testhost up|down|exec|firewall -dir DIR [-n N] [-i I [-- CMD...]]")
	os.Exit(2)
}

func up(dir string, n int) error {
	if err := down(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var records []record
	var known []string
	for k := 0; k < n; k++ {
		h, err := testhost.Start(context.Background(), testhost.Options{Detached: true})
		if err != nil {
			return err
		}
		records = append(records, record{h.Index, h.Namespace, h.Addr, h.Port, h.ClientKeyFile(), h.SSHDPID})
		known = append(known, h.KnownHostsLine())
		fmt.Printf("started %s at %s (sshd pid %d)\n", h.Namespace, h.Address(), h.SSHDPID)
	}
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(strings.Join(known, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(records, "", "  ")
	return os.WriteFile(filepath.Join(dir, "hosts.json"), b, 0o600)
}

func load(dir string) ([]record, error) {
	b, err := os.ReadFile(filepath.Join(dir, "hosts.json"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var records []record
	return records, json.Unmarshal(b, &records)
}

func down(dir string) error {
	records, err := load(dir)
	if err != nil {
		return err
	}
	for _, r := range records {
		if err := testhost.Remove(r.Index); err != nil {
			return err
		}
		fmt.Printf("removed %s\n", r.Namespace)
	}
	return os.RemoveAll(filepath.Join(dir, "hosts.json"))
}

func execIn(dir string, i int, argv []string) error {
	records, err := load(dir)
	if err != nil {
		return err
	}
	if i < 0 || i >= len(records) || len(argv) == 0 {
		return fmt.Errorf("no host %d in %s, or no command", i, dir)
	}
	h := &testhost.Host{Namespace: records[i].Namespace, SSHDPID: records[i].SSHDPID}
	out, err := h.Exec(context.Background(), strings.Join(argv, " "))
	fmt.Print(out)
	return err
}
