package sshx_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// A SHA256 fingerprint pin matches whether or not it carries base64's "="
// padding (some tools print it); one that is not a SHA-256 digest at all
// is a settings error, not a pin that can never match.
func TestHostKeyPinnedFingerprintForms(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	fp := ssh.FingerprintSHA256(h.HostKey)
	o := rootOptions(t, h)
	o.HostKeys = sshx.HostKeys{Pinned: fp + "="}
	if _, err := pool(t, o).Get(t.Context(), endpoint(h)); err != nil {
		t.Fatalf("pin %s= (padded): %v", fp, err)
	}
	for _, bad := range []string{"SHA256:" + strings.Repeat("A", 42) + "B", "SHA256:" + strings.Repeat("A", 40), "SHA256:" + fp[7:] + "=="} {
		o.HostKeys = sshx.HostKeys{Pinned: bad}
		if _, err := sshx.NewPool(o); !errors.Is(err, sshx.ErrConfig) || sshx.SettingOf(err) != "host_key" {
			t.Errorf("pin %q: %v, want a host_key settings error", bad, err)
		}
	}
}

// The host-key algorithm policy is OpenSSH's since 8.8: RSA host keys are
// accepted with rsa-sha2-256/512 signatures, not with ssh-rsa (SHA-1)
// unless asked for (AllowSHA1RSA, insecure_allow_ssh_rsa_sha1); a host
// that offers nothing else fails at once, naming the algorithm and the
// setting, without retries. A second, real sshd on the host serves an
// RSA key, once with ssh-rsa only and once with rsa-sha2 only.
func TestHostKeyAlgorithmPolicy(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	h := testhost.New(t, testhost.Options{})
	hostOut(t, h, "ssh-keygen -q -t rsa -b 2048 -N '' -f /etc/ssh/ctt_rsa_key && "+
		"/usr/sbin/sshd -f /etc/ssh/ctt_sshd_config -o Port=2222 -o HostKey=/etc/ssh/ctt_rsa_key -o HostKeyAlgorithms=ssh-rsa -o PidFile=/etc/ssh/ctt_sha1.pid -E /etc/ssh/ctt_sha1.log && "+
		"/usr/sbin/sshd -f /etc/ssh/ctt_sshd_config -o Port=2223 -o HostKey=/etc/ssh/ctt_rsa_key -o HostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256 -o PidFile=/etc/ssh/ctt_sha2.pid -E /etc/ssh/ctt_sha2.log")
	pub := hostOut(t, h, "cat /etc/ssh/ctt_rsa_key.pub")
	t.Cleanup(func() { _, _ = h.Exec(t.Context(), "kill $(cat /etc/ssh/ctt_sha1.pid /etc/ssh/ctt_sha2.pid)") })
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte("["+h.Addr+"]:2222 "+pub+"\n["+h.Addr+"]:2223 "+pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		keys   sshx.HostKeys
		port   int
		wantOK bool
	}{
		{"known_hosts, ssh-rsa only", sshx.HostKeys{KnownHostsFile: kh}, 2222, false},
		{"pinned key, ssh-rsa only", sshx.HostKeys{Pinned: pub}, 2222, false},
		{"pinned fingerprint, ssh-rsa only", sshx.HostKeys{Pinned: ssh.FingerprintSHA256(key)}, 2222, false},
		{"ssh-rsa allowed", sshx.HostKeys{KnownHostsFile: kh, AllowSHA1RSA: true}, 2222, true},
		{"known_hosts, rsa-sha2", sshx.HostKeys{KnownHostsFile: kh}, 2223, true},
		{"pinned fingerprint, rsa-sha2", sshx.HostKeys{Pinned: ssh.FingerprintSHA256(key)}, 2223, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := rootOptions(t, h)
			o.HostKeys = c.keys
			_, err := pool(t, o).Get(t.Context(), sshx.Endpoint{Host: h.Addr, Port: c.port})
			if c.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, sshx.ErrHostKey) || !strings.Contains(err.Error(), "ssh-rsa") || !strings.Contains(sshx.HintOf(err), "insecure_allow_ssh_rsa_sha1") {
				t.Fatalf("a host offering only ssh-rsa (SHA-1): %v (hint %q)", err, sshx.HintOf(err))
			}
		})
	}
}
