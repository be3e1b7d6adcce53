package torch

import (
	"os"
	"path/filepath"
	"testing"
)

// modelsDir is a temporary models directory; files maps names to contents,
// and a value "@fixture.pt" copies that file from testdata.
func modelsDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		data := []byte(content)
		if len(content) > 0 && content[0] == '@' {
			var err error
			if data, err = os.ReadFile(filepath.Join("testdata", content[1:])); err != nil {
				t.Fatal(err)
			}
		}
		// Write and rename, as an operator's deploy should, so a reload
		// never sees half a file.
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func manifest(name, model, output string) string {
	return "name: " + name + "\nmodel: " + model + "\nfeature_version: 1\noutput: " + output + "\n"
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Fatal("empty Dir accepted")
	}
	if _, err := Open(Config{Dir: filepath.Join(t.TempDir(), "missing")}); !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("missing dir: %v", err)
	}
	r, err := Open(Config{Dir: t.TempDir()})
	if err != nil || len(r.Models()) != 0 {
		t.Fatalf("empty dir: %v %v", r, err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
