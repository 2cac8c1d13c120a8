package sshx

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

// endless is a host that sends bytes without end; it stops (EOF) after
// limit bytes only so that an unbounded read fails the test rather than
// exhausting memory.
type endless struct{ read, limit int }

func (e *endless) Read(p []byte) (int, error) {
	if e.read >= e.limit {
		return 0, io.EOF
	}
	n := min(len(p), e.limit-e.read)
	for i := range p[:n] {
		p[i] = 'x'
	}
	e.read += n
	return n, nil
}

// The replies of the lock and write scripts are read a bounded line at a
// time (lock.go, write.go's tempName): a host that never ends the line is
// not read on.
func TestReadLineIsBounded(t *testing.T) {
	t.Parallel()
	for _, delim := range []byte{'\n', 0} {
		e := &endless{limit: 64 << 20}
		line, err := readLine(bufio.NewReader(e), delim)
		if err == nil || e.read > 2*maxLine || len(line) > maxLine {
			t.Fatalf("delim %q: read %d bytes of an endless line, returned %d bytes, err %v", delim, e.read, len(line), err)
		}
		if _, ok := tempName(bufio.NewReader(&endless{limit: 64 << 20})); ok {
			t.Fatal("tempName accepted an endless name")
		}
	}
	// A line that ends is returned whole.
	if line, err := readLine(bufio.NewReader(strings.NewReader("locked\nrest")), '\n'); line != "locked\n" || err != nil {
		t.Fatalf("%q, %v", line, err)
	}
}
