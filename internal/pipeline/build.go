package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RepoRoot is the folder holding go.mod, found from the working directory
// upwards (a test runs in its package's folder).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// BuildBinaries builds every command into a fresh temporary folder and
// returns it; the caller removes it. Tests that run the daemons as
// processes call it once from TestMain.
func BuildBinaries() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "readout-bin-")
	if err != nil {
		return "", err
	}
	if err := Build(context.Background(), root, dir, "./cmd/..."); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build binaries: %w", err)
	}
	return dir, nil
}

// Build runs go build for pkgs in the module at root, writing the binaries
// into the folder bin. Benchmarks call it so that a run measures the tree
// as it is.
func Build(ctx context.Context, root, bin string, pkgs ...string) error {
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("no go.mod in %s: run from the readout module root or pass --root", root)
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", bin + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
