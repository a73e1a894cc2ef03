package cdctest

import (
	"bufio"
	"bytes"
	"context"
	"os"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// FileTarget is a cdc.Target that appends the keys it deletes to a file,
// one line each, in one write per call: when Delete returns, the keys are
// in the file, whatever becomes of the process afterwards. Crash tests
// give it to a source in a child process that they kill, and read the
// file with ReadKeys. Tags and flushes are not recorded.
type FileTarget struct{ f *os.File }

var _ cdc.Target = (*FileTarget)(nil)

// NewFileTarget opens (creating it when missing) the file at path for
// appending. Close it when done.
func NewFileTarget(path string) (*FileTarget, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &FileTarget{f: f}, nil
}

// Delete appends keys to the file.
func (t *FileTarget) Delete(_ context.Context, keys ...string) error {
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('\n')
	}
	_, err := t.f.Write(b.Bytes())
	return err
}

// InvalidateTags does nothing.
func (*FileTarget) InvalidateTags(context.Context, ...string) error { return nil }

// Flush does nothing.
func (*FileTarget) Flush(context.Context) error { return nil }

// Close closes the file.
func (t *FileTarget) Close() error { return t.f.Close() }

// ReadKeys returns the keys a FileTarget wrote to the file at path, with
// how many times each; none when the file does not exist. A last line
// without its newline (a write cut by a kill) is left out.
func ReadKeys(path string) (map[string]int, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]int{}, nil
	}
	if err != nil {
		return nil, err
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	keys := make(map[string]int)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		keys[sc.Text()]++
	}
	return keys, sc.Err()
}
