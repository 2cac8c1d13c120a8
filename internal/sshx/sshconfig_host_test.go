package sshx_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// insecure_ignore_host_key is the targets' setting: the jump hosts an
// ssh_config ProxyJump names are verified as the bastion is, against the
// known_hosts file (the provider's when set, else the jump's own
// UserKnownHostsFile), never accepted unverified, and the target is not
// reached through a jump host whose key was refused.
func TestSSHConfigJumpHostsAreVerifiedInInsecureMode(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	jump := testhost.New(t, testhost.Options{})
	target := testhost.New(t, testhost.Options{})
	other := testhost.New(t, testhost.Options{}) // a key the jump host does not have
	wrong, right := testhost.KnownHostsFile(t, other), testhost.KnownHostsFile(t, jump)
	dial := func(t *testing.T, providerKnownHosts, jumpKnownHosts string) (*sshx.Pool, error) {
		file := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(file, []byte(fmt.Sprintf(`Host jump
    HostName %s
    User root
    UserKnownHostsFile %s

Host web1
    HostName %s
    ProxyJump jump
`, jump.Addr, jumpKnownHosts, target.Addr)), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := sshx.LoadSSHConfig(file)
		if err != nil {
			t.Fatal(err)
		}
		// As the provider sets them: insecure_ignore_host_key (and
		// known_hosts_file when given) were set in HCL.
		cfg.HostKeysSet, cfg.KnownHostsSet = true, providerKnownHosts != ""
		kh := providerKnownHosts
		if kh == "" {
			kh = wrong // the provider's default known_hosts: without the jump host
		}
		p := pool(t, sshx.Options{
			Credentials:    sshx.Credentials{PrivateKey: target.ClientKeyPEM},
			HostKeys:       sshx.HostKeys{KnownHostsFile: kh, InsecureIgnore: true},
			SSHConfig:      cfg,
			ConnectTimeout: 30 * time.Second,
		})
		_, err = p.Get(t.Context(), sshx.Endpoint{Host: "web1"})
		return p, err
	}
	for _, c := range []struct{ name, provider, jump string }{
		{"provider known_hosts_file", wrong, right},
		{"the jump's UserKnownHostsFile", "", wrong},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := dial(t, c.provider, c.jump)
			if !errors.Is(err, sshx.ErrHostKey) || !strings.Contains(err.Error(), ssh.FingerprintSHA256(jump.HostKey)) {
				t.Fatalf("the jump host's unverified key %s was not refused: %v", ssh.FingerprintSHA256(jump.HostKey), err)
			}
			if n, _ := target.Logins(); n != 0 {
				t.Fatalf("%d logins to the target through an unverified jump host", n)
			}
		})
	}
	// With the jump host's key known, the target itself is still reached
	// unverified (it is in no known_hosts file here).
	if _, err := dial(t, right, wrong); err != nil {
		t.Fatalf("jump host known, insecure target: %v", err)
	}
	if n, _ := target.Logins(); n != 1 {
		t.Fatalf("target logins = %d, want 1", n)
	}
}
