package sshx

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSSHConfigLookup(t *testing.T) {
	t.Parallel()
	home, _ := os.UserHomeDir()
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, []byte(`Host web*
  HostName %h.example.net
  User ops
  Port 2200
  ProxyJump admin@bastion:2222,other
  IdentityFile ~/.ssh/web_%r_%h
  UserKnownHostsFile ~/.ssh/known_web /etc/ssh/known_global

Host *
  User fallback
  IdentityFile %d/.ssh/id_ed25519
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadSSHConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup("web1")
	if err != nil {
		t.Fatal(err)
	}
	want := HostSettings{HostName: "web1.example.net", User: "ops", Port: 2200, ProxyJump: "admin@bastion:2222,other",
		IdentityFiles:  []string{"~/.ssh/web_%r_%h", "%d/.ssh/id_ed25519"},
		KnownHostsFile: []string{home + "/.ssh/known_web", "/etc/ssh/known_global"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Lookup(web1) =\n%+v, want\n%+v", got, want)
	}
	if got, _ := c.Lookup("db1"); got.HostName != "" || got.User != "fallback" || got.Port != 0 {
		t.Errorf("Lookup(db1) = %+v, want only the Host * block", got)
	}
}

func TestExpandTokens(t *testing.T) {
	t.Parallel()
	home, _ := os.UserHomeDir()
	for in, want := range map[string]string{
		"~/.ssh/id_%h":   home + "/.ssh/id_web1.example.net",
		"%d/k_%r@%n:%p":  home + "/k_ops@web1:22",
		"100%%_%x_plain": "100%_%x_plain",
	} {
		if got := expandTokens(in, map[byte]string{'h': "web1.example.net", 'n': "web1", 'r': "ops", 'p': "22"}); got != want {
			t.Errorf("expandTokens(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseJump(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Endpoint{
		"bastion":                  {Host: "bastion"},
		"admin@bastion:2222":       {Host: "bastion", Port: 2222, User: "admin"},
		"ssh://admin@[fd00::1]:22": {Host: "fd00::1", Port: 22, User: "admin"},
	} {
		if got, err := parseJump(in); err != nil || got != want {
			t.Errorf("parseJump(%q) = %+v, %v, want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "admin@", "host:99999"} {
		if _, err := parseJump(in); err == nil {
			t.Errorf("parseJump(%q): no error", in)
		}
	}
}

// With a config file, credentials may come from IdentityFile alone; a host
// the file gives none is refused before any dial, naming the file.
func TestSSHConfigNoCredentials(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, []byte("Host keyed\n  IdentityFile /nonexistent/key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadSSHConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	c.HostKeysSet = true
	p, err := NewPool(Options{SSHConfig: c, HostKeys: HostKeys{InsecureIgnore: true}})
	if err != nil {
		t.Fatalf("NewPool without credentials but with an ssh_config file: %v", err)
	}
	defer p.Close()
	for _, alias := range []string{"keyed", "other"} {
		_, err := p.Get(t.Context(), Endpoint{Host: alias})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no credentials") {
			t.Errorf("Get(%s) = %v, want a no-credentials config error", alias, err)
		}
	}
	// Without a file too, the error comes at the first dial: a configuration
	// that only calls the provider's functions needs no credentials.
	p2, err := NewPool(Options{HostKeys: HostKeys{InsecureIgnore: true}})
	if err != nil {
		t.Fatalf("NewPool without credentials: %v", err)
	}
	defer p2.Close()
	if _, err := p2.Get(t.Context(), Endpoint{Host: "127.0.0.9"}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("Get without credentials = %v, want a no-credentials config error", err)
	}
}
