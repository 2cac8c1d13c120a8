package sshx

import (
	"errors"
	"fmt"
)

// Error classes. Every error the transport returns wraps exactly one of them,
// so callers can decide (errors.Is) without parsing messages.
var (
	ErrUnreachable = errors.New("host unreachable")
	ErrAuth        = errors.New("authentication failed")
	ErrHostKey     = errors.New("host key not trusted")
	ErrPermission  = errors.New("permission denied")
	ErrNotFound    = errors.New("not found")
	ErrTimeout     = errors.New("timed out")
	ErrConfig      = errors.New("invalid connection settings")
	// ErrCommand is a remote command that ran and exited non-zero for a
	// reason none of the other classes describe.
	ErrCommand = errors.New("remote command failed")
)

// Error is a transport failure on one host: what was attempted, its class,
// the underlying cause and what the user can do about it.
type Error struct {
	Host  string // user@host:port
	Op    string // "connect", "run", "read /etc/sysctl.conf", ...
	Class error  // one of the Err* classes above
	Err   error  // the cause; may be nil
	Hint  string // what to do, for the diagnostic detail
	// Setting names the provider setting at fault, for settings errors
	// ("private_key", "bastion.host_key").
	Setting string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Op, e.Class)
	if e.Host != "" {
		msg = e.Host + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes both the class and the cause to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.Err}
}

// ExitError is a remote command that exited with a non-zero status.
type ExitError struct {
	Status int
	Stderr string
}

func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("exit status %d", e.Status)
	}
	return fmt.Sprintf("exit status %d: %s", e.Status, e.Stderr)
}

// HostKeyError says which key a host presented and why it was refused.
type HostKeyError struct {
	Fingerprint string // SHA256:...
	KeyType     string
	Reason      string // "unknown" or "mismatch"
	Source      string // the known_hosts file or "host_key"
}

func (e *HostKeyError) Error() string {
	if e.Reason == "mismatch" {
		return fmt.Sprintf("the host presented %s key %s, which does not match %s (possible man-in-the-middle, or the host was reinstalled)", e.KeyType, e.Fingerprint, e.Source)
	}
	return fmt.Sprintf("the host presented %s key %s, which is not in %s", e.KeyType, e.Fingerprint, e.Source)
}

// SettingOf returns the provider setting an error blames, if any.
func SettingOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Setting
	}
	return ""
}

// HintOf returns the advice attached to a transport error, if any.
func HintOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}
