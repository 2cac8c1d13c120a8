package sshx

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Credentials are the ways to log in to one kind of endpoint (the targets or
// the bastion). Tried in order: private key, agent, password.
type Credentials struct {
	PrivateKey []byte // PEM or OpenSSH format
	Passphrase []byte
	Password   string
	// AgentSocket is the ssh-agent socket to use; empty means no agent.
	AgentSocket string
}

// authenticator holds the parsed credentials and the agent connection.
type authenticator struct {
	methods []ssh.AuthMethod
	agent   net.Conn
}

// newAuthenticator parses the credentials once, so that a malformed key or a
// wrong passphrase fails before any host is contacted. Messages never contain
// key material or passwords.
func newAuthenticator(c Credentials) (*authenticator, error) {
	a := &authenticator{}
	if len(c.PrivateKey) > 0 {
		signer, err := parsePrivateKey(c.PrivateKey, c.Passphrase)
		if err != nil {
			return nil, err
		}
		a.methods = append(a.methods, ssh.PublicKeys(signer))
	}
	if c.AgentSocket != "" {
		conn, err := net.Dial("unix", c.AgentSocket)
		if err != nil {
			return nil, &Error{Op: "connect to ssh-agent", Class: ErrConfig, Err: err, Setting: "agent",
				Hint: "Start ssh-agent and set SSH_AUTH_SOCK, or set agent = false."}
		}
		a.agent = conn
		a.methods = append(a.methods, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	if c.Password != "" {
		pw := c.Password
		a.methods = append(a.methods, ssh.Password(pw), ssh.KeyboardInteractive(passwordChallenge(pw)))
	}
	if len(a.methods) == 0 {
		return nil, &Error{Op: "configure credentials", Class: ErrConfig, Setting: "private_key",
			Err:  errors.New("no credentials"),
			Hint: "Set private_key, private_key_file, password, or agent = true (with SSH_AUTH_SOCK)."}
	}
	return a, nil
}

// passwordChallenge answers keyboard-interactive prompts: the password goes
// only to a prompt that asks for a password with echo off ("Password:",
// "root@host's password:"). Any other prompt (a one-time code, a question
// shown with echo on, a server that asks something else to harvest the
// password) gets an empty answer, so the password is never sent there.
func passwordChallenge(pw string) ssh.KeyboardInteractiveChallenge {
	return func(_, _ string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i, q := range questions {
			echo := i >= len(echos) || echos[i] // unknown echo counts as on
			if !echo && isPasswordPrompt(q) {
				answers[i] = pw
			}
		}
		return answers, nil
	}
}

// isPasswordPrompt reports a prompt that asks for the account's password:
// it names a password and ends with a colon, and it is one line.
func isPasswordPrompt(q string) bool {
	p := strings.ToLower(strings.TrimSpace(q))
	if strings.ContainsAny(p, "\r\n") || !strings.HasSuffix(p, ":") {
		return false
	}
	words := strings.FieldsFunc(p, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' })
	for _, w := range words {
		switch w {
		case "new", "retype", "again", "confirm", "one-time", "otp", "verification", "token", "passcode", "pin", "code":
			return false
		}
	}
	return slices.Contains(words, "password")
}

func (a *authenticator) close() {
	if a.agent != nil {
		a.agent.Close()
	}
}

func parsePrivateKey(pemBytes, passphrase []byte) (ssh.Signer, error) {
	var signer ssh.Signer
	var err error
	if len(passphrase) > 0 {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, passphrase)
	} else {
		signer, err = ssh.ParsePrivateKey(pemBytes)
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case errors.As(err, &missing):
		return nil, &Error{Op: "parse private key", Class: ErrConfig, Err: errors.New("the private key is encrypted"), Setting: "private_key_passphrase",
			Hint: "Set private_key_passphrase (or CONNTRACK_SSH_PRIVATE_KEY_PASSPHRASE)."}
	case errors.Is(err, x509.IncorrectPasswordError) || strings.Contains(err.Error(), "decryption password incorrect"):
		return nil, &Error{Op: "parse private key", Class: ErrConfig, Err: errors.New("the passphrase does not decrypt the private key"), Setting: "private_key_passphrase",
			Hint: "Check private_key_passphrase."}
	default:
		// The parser's message can quote input; keep only its class.
		return nil, &Error{Op: "parse private key", Class: ErrConfig, Err: errors.New("not a valid PEM or OpenSSH private key"), Setting: "private_key",
			Hint: "private_key must hold the whole key file, from its -----BEGIN line to its -----END line."}
	}
}

// blame marks a settings error as the bastion's (prefix "bastion.").
func blame(err error, prefix string) error {
	var e *Error
	if errors.As(err, &e) && prefix != "" {
		e.Setting = prefix + e.Setting
		e.Op = strings.TrimSuffix(prefix, ".") + " " + e.Op
	}
	return err
}

// ReadKeyFile reads a private key file, expanding a leading ~.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(ExpandHome(path))
	if err != nil {
		return nil, &Error{Op: "read private_key_file", Class: ErrConfig, Err: err, Setting: "private_key_file"}
	}
	return b, nil
}

// ExpandHome replaces a leading ~/ with the user's home directory.
func ExpandHome(path string) string {
	if path == "~" || strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return home + path[1:]
		}
	}
	return path
}
