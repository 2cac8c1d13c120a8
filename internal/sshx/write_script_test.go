package sshx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runWriteScript runs the remote write script with the local sh, as sshd
// would, with stdin as given (nil: closed at once, as when the client went
// away). It returns the exit status and stderr.
func runWriteScript(t *testing.T, target string, stdin []byte, via string, newContent []byte, backup string) (int, string) {
	t.Helper()
	return runWriteScriptFrom(t, target, bytes.NewReader(stdin), via, newContent, backup, "300")
}

func runWriteScriptFrom(t *testing.T, target string, stdin io.Reader, via string, newContent []byte, backup, timeout string) (int, string) {
	t.Helper()
	sum := sha256.Sum256(newContent)
	cmd := exec.Command("sh", "-c", writeFileScript, "sh", target, "0644", backup, "", via,
		strconv.Itoa(len(newContent)), hex.EncodeToString(sum[:]), timeout, TopDir(target))
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	default:
		t.Fatal(err)
		return -1, ""
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".conntrack-tf.*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The reproduction: a client that goes away mid-write closes the
// script's stdin. The old script took that EOF as the end of the data and
// installed an empty or truncated file; the script must now refuse it.
func TestWriteScriptNeverInstallsACutStream(t *testing.T) {
	t.Parallel()
	old := []byte("net.netfilter.nf_conntrack_max = 262144\nnet.ipv4.ip_forward = 1\n")
	newContent := []byte("net.netfilter.nf_conntrack_max = 524288\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n")
	for _, tc := range []struct {
		name  string
		via   string
		stdin []byte
	}{
		{"shell path, stdin closed at once", "stdin", nil},
		{"shell path, stdin cut half way", "stdin", newContent[:len(newContent)/2]},
		{"shell path, corrupted", "stdin", bytes.ToUpper(newContent)},
		{"sftp path, client gone before go", "sftp", nil},
		{"sftp path, a cut go line", "sftp", []byte("g")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "sysctl.conf")
			if err := os.WriteFile(target, old, 0o644); err != nil {
				t.Fatal(err)
			}
			status, stderr := runWriteScript(t, target, tc.stdin, tc.via, newContent, "0")
			got, _ := os.ReadFile(target)
			if !bytes.Equal(got, old) {
				t.Fatalf("exit %d (%s): the target now holds %q, want the old content", status, stderr, got)
			}
			if status != exitIncomplete {
				t.Fatalf("exit %d (%s), want %d", status, stderr, exitIncomplete)
			}
			if left := tempFiles(t, dir); len(left) != 0 {
				t.Fatalf("temp files left: %v", left)
			}
		})
	}
	// The whole stream is installed.
	dir := t.TempDir()
	target := filepath.Join(dir, "sysctl.conf")
	if err := os.WriteFile(target, old, 0o644); err != nil {
		t.Fatal(err)
	}
	if status, stderr := runWriteScript(t, target, newContent, "stdin", newContent, "0"); status != 0 {
		t.Fatalf("exit %d: %s", status, stderr)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, newContent) {
		t.Fatalf("got %q", got)
	}
}

// With backups on, only the newest BackupsKept per file remain.
func TestWriteScriptPrunesBackups(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "blacklist.conf")
	if err := os.WriteFile(target, []byte("v0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Older backups, as earlier runs left them (timestamps sort as they age).
	for _, ts := range []string{"20200101T000000", "20210101T000000", "20220101T000000", "20230101T000000"} {
		if err := os.WriteFile(target+".conntrack-"+ts+".bak", []byte(ts), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A backup of another file is not this file's to prune.
	if err := os.WriteFile(filepath.Join(dir, "other.conf.conntrack-20190101T000000.bak"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	content := []byte("v1\n")
	if status, stderr := runWriteScript(t, target, content, "stdin", content, "1"); status != 0 {
		t.Fatalf("exit %d: %s", status, stderr)
	}
	baks, _ := filepath.Glob(target + ".conntrack-*.bak")
	if len(baks) != BackupsKept {
		t.Fatalf("backups %v, want %d", baks, BackupsKept)
	}
	if !strings.HasSuffix(baks[0], "20220101T000000.bak") || !strings.HasSuffix(baks[1], "20230101T000000.bak") {
		t.Fatalf("kept the wrong backups: %v", baks)
	}
	if b, _ := os.ReadFile(baks[2]); string(b) != "v0\n" {
		t.Fatalf("the newest backup holds %q, want the replaced content", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.conf.conntrack-20190101T000000.bak")); err != nil {
		t.Fatalf("another file's backup was pruned: %v", err)
	}
}

// A half-open connection (the client is gone, sshd has not noticed) keeps
// the script's stdin open without data: the watchdog ends the wait after the
// timeout, and the temp file goes.
func TestWriteScriptGivesUpOnAStalledClient(t *testing.T) {
	t.Parallel()
	newContent := []byte("new\n")
	for _, via := range []string{"stdin", "sftp"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "sysctl.conf")
			if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// An *os.File, so the child holds the pipe itself (exec would
			// otherwise wait for its copier, which never ends).
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			if via == "stdin" {
				// Part of the bytes, then silence (a failed write only means
				// fewer bytes arrive, which the test expects anyway).
				go func() { _, _ = w.Write(newContent[:2]) }()
			}
			start := time.Now()
			status, stderr := runWriteScriptFrom(t, target, r, via, newContent, "0", "1")
			if status != exitIncomplete || time.Since(start) > 10*time.Second {
				t.Fatalf("exit %d after %s: %s", status, time.Since(start), stderr)
			}
			if got, _ := os.ReadFile(target); string(got) != "old\n" {
				t.Fatalf("target %q", got)
			}
			if left := tempFiles(t, dir); len(left) != 0 {
				t.Fatalf("temp files left: %v", left)
			}
		})
	}
}
