package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	for _, write := range []func(string, []byte) error{WriteFile, WriteFileNoSync} {
		for _, content := range []string{"first\n", "second, longer\n", "3\n"} {
			if err := write(path, []byte(content)); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != content {
				t.Fatalf("unexpected content; got %q; want %q", got, content)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "absent", "state"), []byte("x")); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}
