package testhost

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The image script's cleanup, on the paths a first build can end by: a
// step failing while /proc is mounted in the build's root, and Ctrl-C in the
// middle of a step. debootstrap and chroot are stand-ins on PATH (the real
// build is what `make test` runs before the tests, from an empty cache on a
// fresh machine); the mount of /proc and the cleanup are the script's own.
// Before the fix the trap ran umount on an unmounted /proc under set -e and
// the script exited 32 and left its build directory behind.

// fakeRoot is a debootstrap stand-in: it makes the few directories of a
// root file system that the script writes into (its last argument), and a
// kernel and initrd when KERNEL is set.
const fakeRoot = `#!/bin/sh
for root; do :; done
mkdir -p "$root/usr/sbin" "$root/usr/local/sbin" "$root/sbin" "$root/proc" "$root/boot" \
	"$root/etc/ssh/sshd_config.d" "$root/etc/systemd/system/multi-user.target.wants"
if [ -n "$KERNEL" ]; then
	echo kernel >"$root/boot/vmlinuz-$KERNEL"
	echo initrd >"$root/boot/initrd.img-$KERNEL"
fi
`

// chrootOK stands in for every step the script runs in the new root.
const chrootOK = "#!/bin/sh\nexit 0\n"

// buildWithStandIns starts the image script into a new output directory
// with stand-ins (name -> script) first on PATH, in a process group of its
// own (as a terminal's Ctrl-C reaches the script and its children).
func buildWithStandIns(t *testing.T, standIns map[string]string, env ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the image script needs root (make test runs as root)")
	}
	bin, out := t.TempDir(), t.TempDir()
	for name, script := range standIns {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("../../scripts/kernel-host/build.sh", out)
	cmd.Env = append(append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH")), env...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd, out, &output
}

// exitCode waits for cmd and returns its exit status.
func exitCode(t *testing.T, cmd *exec.Cmd, output *bytes.Buffer) int {
	t.Helper()
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	t.Logf("build.sh exited %d:\n%s", cmd.ProcessState.ExitCode(), output)
	return cmd.ProcessState.ExitCode()
}

// mountsUnder lists the mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var under []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			under = append(under, f[1])
		}
	}
	return under
}

// expectOnly fails unless out holds exactly the files named and nothing is
// mounted in it.
func expectOnly(t *testing.T, out string, files ...string) {
	t.Helper()
	if m := mountsUnder(t, out); len(m) > 0 {
		t.Errorf("still mounted after the build ended: %v", m)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != strings.Join(files, " ") {
		t.Errorf("%s holds %q, want %q", out, names, files)
	}
}

func TestImageBuildScriptSucceedsOnAFirstBuild(t *testing.T) {
	t.Parallel()
	SkipUnlessAcc(t)
	cmd, out, output := buildWithStandIns(t, map[string]string{"debootstrap": fakeRoot, "chroot": chrootOK}, "KERNEL=6.1.0-test")
	if code := exitCode(t, cmd, output); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	expectOnly(t, out, "initrd.img", "kernel-version", "recipe.sha256", "rootfs.ext4", "trixie", "vmlinuz")
	expectOnly(t, filepath.Join(out, "trixie"), "initrd.img", "kernel-version", "recipe.sha256", "rootfs.ext4", "vmlinuz")
}

func TestImageBuildScriptKeepsTheStatusOfAStepThatFailsAfterProcIsUnmounted(t *testing.T) {
	t.Parallel()
	SkipUnlessAcc(t)
	// No kernel in the root: finding it fails (ls exits 2) after the
	// firewalld step has unmounted /proc.
	cmd, out, output := buildWithStandIns(t, map[string]string{"debootstrap": fakeRoot, "chroot": chrootOK})
	if code := exitCode(t, cmd, output); code != 2 {
		t.Errorf("exit status %d, want 2 (the failed step's)", code)
	}
	expectOnly(t, out)
}

func TestImageBuildScriptCleansUpAfterAStepFailsWithProcMounted(t *testing.T) {
	t.Parallel()
	SkipUnlessAcc(t)
	// /proc is mounted in the root, then apt-get cannot run there.
	cmd, out, output := buildWithStandIns(t, map[string]string{"debootstrap": fakeRoot})
	if code := exitCode(t, cmd, output); code != 1 {
		t.Errorf("exit status %d, want 1 (the failed step's)", code)
	}
	expectOnly(t, out)
}

func TestImageBuildScriptCleansUpAfterCtrlC(t *testing.T) {
	t.Parallel()
	SkipUnlessAcc(t)
	// The first chroot step (apt-get update, /proc mounted) hangs until
	// interrupted.
	cmd, out, output := buildWithStandIns(t, map[string]string{"debootstrap": fakeRoot, "chroot": "#!/bin/sh\nexec sleep 60\n"})
	deadline := time.Now().Add(30 * time.Second)
	for len(mountsUnder(t, out)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the script never mounted /proc in its root:\n%s", output)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // into the hanging step
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd, output); code != 130 {
		t.Errorf("exit status %d, want 130 (interrupted)", code)
	}
	expectOnly(t, out)
}
