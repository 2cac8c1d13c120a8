package sshx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
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
	// AllowSHA1RSA also accepts ssh-rsa host key signatures (RSA with
	// SHA-1), which OpenSSH refuses by default since 8.8, for hosts whose
	// sshd signs with nothing newer (OpenSSH before 7.2).
	AllowSHA1RSA bool
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
			fp, ok := CanonicalFingerprint(pin)
			if !ok {
				return nil, &Error{Op: "parse host_key", Class: ErrConfig, Err: errors.New("not a SHA256 fingerprint: SHA256: and the 43 base64 characters of a SHA-256 digest"), Setting: "host_key",
					Hint: `Copy the fingerprint as ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub prints it on the host ("SHA256:" and 43 characters), or pin the public key line.`}
			}
			v.pinnedFP = fp
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

// CanonicalFingerprint returns a "SHA256:..." fingerprint as
// ssh.FingerprintSHA256 writes it (unpadded base64), and false unless it is
// the base64 of exactly a SHA-256 digest. A single "=" of padding, which
// some tools print, is the same fingerprint.
func CanonicalFingerprint(pin string) (string, bool) {
	b64, ok := strings.CutPrefix(pin, "SHA256:")
	if !ok {
		return "", false
	}
	raw, err := base64.RawStdEncoding.Strict().DecodeString(strings.TrimSuffix(b64, "="))
	if err != nil || len(raw) != sha256.Size {
		return "", false
	}
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(raw), true
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

// algorithms lists the host key algorithms to accept from addr: those of
// the key types known_hosts holds for it, so the server is asked for a key
// type we can check (otherwise a host with an RSA entry that offers ECDSA
// first would look like a mismatch), or of the pinned key; else every
// algorithm x/crypto/ssh counts as secure (ssh.SupportedAlgorithms). Never
// ssh-rsa (RSA with SHA-1) unless AllowSHA1RSA: OpenSSH's policy since 8.8
// (DECISIONS.md, Host-side hardening).
func (v *verifier) algorithms(addr string) []string {
	secure := func() []string {
		algos := ssh.SupportedAlgorithms().HostKeys
		if v.policy.AllowSHA1RSA {
			algos = append(algos, ssh.KeyAlgoRSA)
		}
		return algos
	}
	if v.known == nil {
		if v.pinnedKey != nil {
			return v.algorithmsFor(v.pinnedKey.Type())
		}
		return secure()
	}
	// Asking about a throwaway key makes knownhosts list the keys it has.
	probe, err := ssh.NewPublicKey(probeKey)
	if err != nil {
		return secure()
	}
	var keyErr *knownhosts.KeyError
	if err := v.known(addr, &net.TCPAddr{}, probe); !errors.As(err, &keyErr) {
		return secure()
	}
	var algos []string
	for _, k := range keyErr.Want {
		algos = append(algos, v.algorithmsFor(k.Key.Type())...)
	}
	return algos
}

// probeKey is a key no host has.
var probeKey = ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))

func (v *verifier) algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		if v.policy.AllowSHA1RSA {
			return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{keyType}
}
