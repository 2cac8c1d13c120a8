package sshx

import (
	"os/exec"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "''",
		"plain-word_1.2/x": "plain-word_1.2/x",
		"two words":        "'two words'",
		"it's":             `'it'\''s'`,
		"$(reboot)":        "'$(reboot)'",
		"a;b|c&d`e`":       "'a;b|c&d`e`'",
		"new\nline":        "'new\nline'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzQuote checks with a real shell that a quoted word reaches the program
// unchanged, whatever it holds.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a b", "it's", "$(id)", "`id`", "\\", "'\"'", "*?[", "~root", "a\nb", "-n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return // argv cannot carry NUL
		}
		out, err := exec.Command("sh", "-c", Join([]string{"printf", "%s", s})).Output()
		if err != nil {
			t.Fatalf("sh: %v for %q", err, s)
		}
		if string(out) != s {
			t.Fatalf("round trip of %q gave %q", s, out)
		}
	})
}

func TestTopDir(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/sysctl.d/99-sysctl.conf": "/etc",
		"/etc/sysctl.conf":             "/etc",
		"/x":                           "/",
		"/":                            "/",
		"relative/x":                   "/",
		"//etc/x":                      "/",
	} {
		if got := TopDir(in); got != want {
			t.Errorf("TopDir(%q) = %q, want %q", in, got, want)
		}
	}
}
