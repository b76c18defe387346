// Package proc starts child processes that die with the launcher: each child gets SIGKILL from the
// kernel when the thread that forked it exits, so all forks happen on one OS thread that never exits.
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

type request struct {
	cmd  *exec.Cmd
	done chan error
}

var requests = make(chan request)

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for r := range requests {
			r.done <- r.cmd.Start()
		}
	}()
}

// Start starts cmd in its own process group, to be killed by the kernel if this process dies.
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
	done := make(chan error, 1)
	requests <- request{cmd: cmd, done: done}
	return <-done
}

// StartLogged starts cmd with stdout and stderr appended to logPath.
func StartLogged(cmd *exec.Cmd, logPath string) (*os.File, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := Start(cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	return f, nil
}

// Terminate sends SIGTERM to the process group of a started command, then SIGKILL after grace,
// and waits for the exit through exited (closed when the process has been reaped).
func Terminate(pid int, exited <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-exited
}
