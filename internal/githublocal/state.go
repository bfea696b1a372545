package githublocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/atomicfile"
)

// stateVersion is the layout of state.json.
const stateVersion = 1

// state is everything the server holds but the git data, kept in one
// JSON file (<dir>/state.json) written with atomicfile after every change.
type state struct {
	Version int   `json:"version"`
	NextID  int64 `json:"nextId"`
	// Apps and Installations are by id.
	Apps          map[int64]*appRecord          `json:"apps"`
	Installations map[int64]*installationRecord `json:"installations"`
	// Repos are by lower-case full name: GitHub's names are not case
	// sensitive.
	Repos map[string]*repoRecord `json:"repos"`
	// Tokens are by the SHA-256 of the token, so the file holds none.
	Tokens   map[string]*tokenRecord  `json:"tokens"`
	Comments map[int64]*commentRecord `json:"comments"`
}

type appRecord struct {
	ID           int64     `json:"id"`
	Slug         string    `json:"slug"`
	Name         string    `json:"name"`
	ClientID     string    `json:"clientId,omitempty"`
	PublicKeyPEM string    `json:"publicKey"`
	CreatedAt    time.Time `json:"createdAt"`
}

type installationRecord struct {
	ID      int64  `json:"id"`
	AppID   int64  `json:"appId"`
	Account string `json:"account"`
	// AccountType is User or Organization.
	AccountType string `json:"accountType"`
	// Permissions are GitHub's names and levels (contents: write, ...).
	Permissions map[string]string `json:"permissions"`
	// Repositories are the ids the installation may reach; nil: every
	// repository of the account, now and later.
	Repositories []int64   `json:"repositories"`
	CreatedAt    time.Time `json:"createdAt"`
}

type repoRecord struct {
	ID            int64     `json:"id"`
	Owner         string    `json:"owner"`
	OwnerType     string    `json:"ownerType"` // User or Organization
	Name          string    `json:"name"`
	Private       bool      `json:"private"`
	DefaultBranch string    `json:"defaultBranch"`
	Protected     []string  `json:"protected,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	// Collaborators are role names (admin, maintain, write, triage, read)
	// by lower-case login.
	Collaborators map[string]string `json:"collaborators,omitempty"`
	// NextNumber is the next issue or pull number: they share one
	// sequence, as on GitHub.
	NextNumber int            `json:"nextNumber"`
	Issues     []*issueRecord `json:"issues,omitempty"`
	Pulls      []*pullRecord  `json:"pulls,omitempty"`
}

type issueRecord struct {
	Number    int       `json:"number"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	User      string    `json:"user"`
	CreatedAt time.Time `json:"createdAt"`
}

type pullRecord struct {
	ID        int64     `json:"id"`
	Number    int       `json:"number"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	User      string    `json:"user"`
	Head      string    `json:"head"`
	Base      string    `json:"base"`
	HeadSHA   string    `json:"headSha"`
	BaseSHA   string    `json:"baseSha"`
	Draft     bool      `json:"draft,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

type tokenRecord struct {
	InstallationID int64             `json:"installationId"`
	ExpiresAt      time.Time         `json:"expiresAt"`
	Permissions    map[string]string `json:"permissions"`
	// Repositories narrow the installation's; nil: the installation's.
	Repositories []int64 `json:"repositories"`
}

type commentRecord struct {
	ID        int64     `json:"id"`
	Repo      string    `json:"repo"` // the key in state.Repos
	Issue     int       `json:"issue"`
	Body      string    `json:"body"`
	User      string    `json:"user"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func newState() *state {
	return &state{
		Version:       stateVersion,
		NextID:        1000,
		Apps:          map[int64]*appRecord{},
		Installations: map[int64]*installationRecord{},
		Repos:         map[string]*repoRecord{},
		Tokens:        map[string]*tokenRecord{},
		Comments:      map[int64]*commentRecord{},
	}
}

// loadState reads path; a missing file is an empty state.
func loadState(path string) (*state, error) {
	st := newState()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%s has layout version %d, this server reads %d", path, st.Version, stateVersion)
	}
	return st, nil
}

// saveLocked writes the state, dropping expired tokens first.
func (s *Server) saveLocked() error {
	now := s.now()
	for k, t := range s.st.Tokens {
		if !now.Before(t.ExpiresAt) {
			delete(s.st.Tokens, k)
		}
	}
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.statePath, b); err != nil {
		return fmt.Errorf("githublocal: save state: %w", err)
	}
	return nil
}

func (st *state) newID() int64 {
	st.NextID++
	return st.NextID
}

// repo finds a repository by owner and name, in any case.
func (st *state) repo(owner, name string) (*repoRecord, bool) {
	r, ok := st.Repos[repoKey(owner, name)]
	return r, ok
}

func (st *state) repoByID(id int64) (*repoRecord, bool) {
	for _, r := range st.Repos {
		if r.ID == id {
			return r, true
		}
	}
	return nil, false
}

func repoKey(owner, name string) string {
	return strings.ToLower(owner) + "/" + strings.ToLower(name)
}

func (r *repoRecord) key() string      { return repoKey(r.Owner, r.Name) }
func (r *repoRecord) fullName() string { return r.Owner + "/" + r.Name }

func (r *repoRecord) issue(n int) (*issueRecord, bool) {
	for _, i := range r.Issues {
		if i.Number == n {
			return i, true
		}
	}
	return nil, false
}

func (r *repoRecord) pull(n int) (*pullRecord, bool) {
	for _, p := range r.Pulls {
		if p.Number == n {
			return p, true
		}
	}
	return nil, false
}

func (r *repoRecord) protected(branch string) bool { return slices.Contains(r.Protected, branch) }

// reaches reports whether the installation reaches repo.
func (inst *installationRecord) reaches(repo *repoRecord) bool {
	if !strings.EqualFold(repo.Owner, inst.Account) {
		return false
	}
	return inst.Repositories == nil || slices.Contains(inst.Repositories, repo.ID)
}
