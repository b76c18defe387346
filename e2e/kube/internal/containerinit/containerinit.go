// Package containerinit is the last step before a container's program runs. The node agent starts
// it as `unshare --mount --uts ... nsenter --net=<pod netns> runnel-kube container-init SPEC`, so it
// already sits in the pod's network namespace and in fresh mount and UTS namespaces; it bind-mounts
// the pod's volumes and its /etc/hosts and /etc/resolv.conf, sets the hostname, and execs the program.
package containerinit

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Mount binds Source (a host path) at Target inside the container's mount namespace.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Spec is everything the container's process needs, written by the node agent as JSON.
type Spec struct {
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	Dir      string   `json:"dir,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	Mounts   []Mount  `json:"mounts,omitempty"`
	// ErrorFile receives the reason when the program cannot be started, for the container status.
	ErrorFile string `json:"errorFile"`
}

// ExitStartError is the exit code when the container could not be started at all.
const ExitStartError = 128

// Main runs the container described by the spec file named in args; it returns only on failure.
func Main(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: runnel-kube container-init SPEC.json")
		return 2
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "container-init: %v\n", err)
		return ExitStartError
	}
	var spec Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		fmt.Fprintf(os.Stderr, "container-init: %s: %v\n", args[0], err)
		return ExitStartError
	}
	err = start(&spec)
	msg := fmt.Sprintf("failed to start container: %v", err)
	fmt.Fprintln(os.Stderr, msg)
	if spec.ErrorFile != "" {
		_ = os.WriteFile(spec.ErrorFile, []byte(msg), 0o644)
	}
	return ExitStartError
}

func start(spec *Spec) error {
	if len(spec.Argv) == 0 {
		return fmt.Errorf("no command: the image has no entrypoint and the container sets no command")
	}
	for _, m := range spec.Mounts {
		if err := bind(m); err != nil {
			return err
		}
	}
	if spec.Hostname != "" {
		if err := syscall.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("setting hostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Dir != "" {
		if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
			return fmt.Errorf("working directory %s: %w", spec.Dir, err)
		}
		if err := os.Chdir(spec.Dir); err != nil {
			return fmt.Errorf("working directory %s: %w", spec.Dir, err)
		}
	}
	path, err := lookPath(spec.Argv[0], spec.Env)
	if err != nil {
		return err
	}
	return syscall.Exec(path, spec.Argv, spec.Env)
}

// bind creates the mount point when missing (a file for a file, a folder for a folder) and binds.
func bind(m Mount) error {
	info, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("volume source for %s: %w", m.Target, err)
	}
	if info.IsDir() {
		err = os.MkdirAll(m.Target, 0o755)
	} else {
		if err = os.MkdirAll(filepath.Dir(m.Target), 0o755); err == nil {
			if _, statErr := os.Stat(m.Target); os.IsNotExist(statErr) {
				var f *os.File
				if f, err = os.OpenFile(m.Target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					f.Close()
				}
			}
		}
	}
	if err != nil {
		return fmt.Errorf("mount point %s: %w", m.Target, err)
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("mounting %s at %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY | syscall.MS_REC)
		if err := syscall.Mount("", m.Target, "", flags, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// lookPath resolves a command name against the container's PATH, not the agent's.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("executable %s: %w", name, err)
		}
		return name, nil
	}
	pathVar := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		candidate := filepath.Join(dir, name)
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in $PATH (%s): %w", name, pathVar, exec.ErrNotFound)
}
