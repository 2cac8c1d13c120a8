package sshx

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeys says how host keys are verified: a known_hosts file, a pinned key,
// or (only when asked for explicitly) not at all.
type HostKeys struct {
	KnownHostsFile string
	// Pinned is an authorized_keys-style public key ("ssh-ed25519 AAAA...")
	// or a SHA256 fingerprint ("SHA256:...").
	Pinned         string
	InsecureIgnore bool
}

// verifier checks host keys and remembers why it refused one, since the
// handshake error hides the callback's error type.
type verifier struct {
	policy    HostKeys
	known     ssh.HostKeyCallback
	pinnedKey ssh.PublicKey
	pinnedFP  string
}

func newVerifier(p HostKeys) (*verifier, error) {
	v := &verifier{policy: p}
	switch {
	case p.InsecureIgnore:
	case p.Pinned != "":
		pin := strings.TrimSpace(p.Pinned)
		if strings.HasPrefix(pin, "SHA256:") {
			v.pinnedFP = pin
			break
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pin))
		if err != nil {
			return nil, &Error{Op: "parse host_key", Class: ErrConfig, Err: errors.New("not a public key line or SHA256 fingerprint"), Setting: "host_key",
				Hint: `Set host_key to a line such as "ssh-ed25519 AAAA..." (from /etc/ssh/ssh_host_ed25519_key.pub on the host) or to its "SHA256:..." fingerprint.`}
		}
		v.pinnedKey = key
	default:
		path := ExpandHome(p.KnownHostsFile)
		if _, err := os.Stat(path); err != nil {
			return nil, &Error{Op: "open known_hosts_file", Class: ErrHostKey, Err: err, Setting: "known_hosts_file",
				Hint: fmt.Sprintf("Create %s with the hosts' keys (check each fingerprint, then `ssh-keyscan HOST >> %s`), pin host_key, or set known_hosts_file.", path, path)}
		}
		cb, err := knownhosts.New(path)
		if err != nil {
			return nil, &Error{Op: "parse known_hosts_file " + path, Class: ErrConfig, Err: err, Setting: "known_hosts_file"}
		}
		v.known = cb
		v.policy.KnownHostsFile = path
	}
	return v, nil
}

// callback returns the check for one dial and a pointer that receives the
// refusal reason, if any.
func (v *verifier) callback() (ssh.HostKeyCallback, *HostKeyError) {
	refusal := &HostKeyError{}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		fp := ssh.FingerprintSHA256(key)
		refuse := func(reason, source string) error {
			*refusal = HostKeyError{Fingerprint: fp, KeyType: key.Type(), Reason: reason, Source: source}
			return refusal
		}
		switch {
		case v.policy.InsecureIgnore:
			return nil
		case v.pinnedFP != "":
			if fp != v.pinnedFP {
				return refuse("mismatch", "host_key "+v.pinnedFP)
			}
			return nil
		case v.pinnedKey != nil:
			if !bytes.Equal(key.Marshal(), v.pinnedKey.Marshal()) {
				return refuse("mismatch", "host_key "+ssh.FingerprintSHA256(v.pinnedKey))
			}
			return nil
		}
		err := v.known(hostname, remote, key)
		var keyErr *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
			return refuse("unknown", v.policy.KnownHostsFile)
		case errors.As(err, &keyErr):
			return refuse("mismatch", fmt.Sprintf("%s line %d", keyErr.Want[0].Filename, keyErr.Want[0].Line))
		case errors.As(err, &revoked):
			return refuse("mismatch", "a @revoked entry in "+v.policy.KnownHostsFile)
		default:
			return refuse("unknown", v.policy.KnownHostsFile)
		}
	}, refusal
}

// algorithms lists the host key algorithms known_hosts holds for addr, so the
// server is asked for a key type we can check (otherwise a host with an RSA
// entry that offers ECDSA first would look like a mismatch). Nil means any.
func (v *verifier) algorithms(addr string) []string {
	if v.known == nil {
		if v.pinnedKey != nil {
			return algorithmsFor(v.pinnedKey.Type())
		}
		return nil
	}
	// Asking about a throwaway key makes knownhosts list the keys it has.
	probe, err := ssh.NewPublicKey(probeKey)
	if err != nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	if err := v.known(addr, &net.TCPAddr{}, probe); !errors.As(err, &keyErr) {
		return nil
	}
	var algos []string
	for _, k := range keyErr.Want {
		algos = append(algos, algorithmsFor(k.Key.Type())...)
	}
	return algos
}

// probeKey is a key no host has.
var probeKey = ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}
