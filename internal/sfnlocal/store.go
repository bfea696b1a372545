package sfnlocal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sandstep/sandstep/internal/atomicfile"
)

// store keeps the executions on disk, one state machine a directory:
//
//	<Dir>/executions/<state machine>/<execution>.json           the record, replaced atomically
//	<Dir>/executions/<state machine>/<execution>.history.jsonl  its events, appended one a line
//
// Names cannot hold '/' (validName); "." and ".." are kept as "%." and
// "%.." (a joined path would resolve them before the suffix). A crash can tear only the last history line, which
// reading skips.
type store struct{ dir string }

// record is an execution as it is kept.
type record struct {
	ExecutionArn    string     `json:"executionArn"`
	StateMachineArn string     `json:"stateMachineArn"`
	StateMachine    string     `json:"stateMachine"`
	Name            string     `json:"name"`
	Status          string     `json:"status"`
	Input           string     `json:"input"`
	Output          *string    `json:"output,omitempty"`
	Error           *string    `json:"error,omitempty"`
	Cause           *string    `json:"cause,omitempty"`
	StartDate       time.Time  `json:"startDate"`
	StopDate        *time.Time `json:"stopDate,omitempty"`
	// Notified: the status change was delivered (OnStatusChange returned).
	Notified bool `json:"notified,omitempty"`
}

func openStore(dir string) (*store, error) {
	d := filepath.Join(dir, "executions")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	return &store{dir: d}, nil
}

func (st *store) paths(machine, name string) (rec, hist string) {
	if name == "." || name == ".." {
		// Names Step Functions allows that a path would resolve upward;
		// "%" is in no name, so the file is no other execution's.
		name = "%" + name
	}
	base := filepath.Join(st.dir, machine, name)
	return base + ".json", base + ".history.jsonl"
}

func (st *store) save(r *record) error {
	path, _ := st.paths(r.StateMachine, r.Name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sfnlocal: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("sfnlocal: %w", err)
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("sfnlocal: saving %s: %w", path, err)
	}
	return nil
}

// remove deletes an execution whose name may be reused.
func (st *store) remove(r *record) error {
	rec, hist := st.paths(r.StateMachine, r.Name)
	err := errors.Join(os.Remove(rec), os.Remove(hist))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sfnlocal: %w", err)
	}
	return nil
}

// loadAll reads every record.
func (st *store) loadAll() ([]*record, error) {
	paths, err := filepath.Glob(filepath.Join(st.dir, "*", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	var out []*record
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("sfnlocal: %w", err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("sfnlocal: %s is damaged: %w", p, err)
		}
		out = append(out, &r)
	}
	return out, nil
}

// openHistory opens an execution's history for appending, first cutting
// off a torn last line.
func (st *store) openHistory(r *record) (*os.File, error) {
	_, hist := st.paths(r.StateMachine, r.Name)
	if err := os.MkdirAll(filepath.Dir(hist), 0o700); err != nil {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	b, err := os.ReadFile(hist)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	if whole := bytes.LastIndexByte(b, '\n') + 1; whole < len(b) {
		if err := os.Truncate(hist, int64(whole)); err != nil {
			return nil, fmt.Errorf("sfnlocal: %w", err)
		}
	}
	f, err := os.OpenFile(hist, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	return f, nil
}

// readHistory returns an execution's events; a torn last line (a crash
// while appending) is left out.
func (st *store) readHistory(r *record) ([]event, error) {
	_, hist := st.paths(r.StateMachine, r.Name)
	f, err := os.Open(hist)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sfnlocal: %w", err)
	}
	defer f.Close()
	var out []event
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 && err == nil {
			var ev event
			if jerr := json.Unmarshal(line, &ev); jerr != nil {
				return nil, fmt.Errorf("sfnlocal: %s is damaged: %w", hist, jerr)
			}
			out = append(out, ev)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("sfnlocal: %w", err)
		}
	}
}
