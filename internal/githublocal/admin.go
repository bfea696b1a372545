package githublocal

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The helpers that set the stand-in up and read it back, for tests and
// the local stack. GitHub has no API for most of them: they are what a
// person does in GitHub's settings pages. Every change is saved at once.

// App is a GitHub App the stand-in accepts JWTs of.
type App struct {
	ID int64
	// Slug names the App's bot user, <Slug>[bot], which its installation
	// tokens act as. Empty: app-<ID>.
	Slug string
	Name string
	// ClientID, if set, is accepted as the JWT's iss too, as GitHub does.
	ClientID  string
	PublicKey *rsa.PublicKey
}

// AddApp registers an App; its id must be new.
func (s *Server) AddApp(a App) error {
	if a.ID <= 0 || a.PublicKey == nil {
		return errors.New("githublocal: an App needs an id and a public key")
	}
	if a.Slug == "" {
		a.Slug = fmt.Sprintf("app-%d", a.ID)
	}
	if a.Name == "" {
		a.Name = a.Slug
	}
	pub, err := encodePublicKey(a.PublicKey)
	if err != nil {
		return fmt.Errorf("githublocal: App %d: %w", a.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Apps[a.ID]; ok {
		return fmt.Errorf("githublocal: App %d exists", a.ID)
	}
	s.st.Apps[a.ID] = &appRecord{ID: a.ID, Slug: a.Slug, Name: a.Name, ClientID: a.ClientID, PublicKeyPEM: pub, CreatedAt: s.now().UTC()}
	return s.saveLocked()
}

// Apps lists the Apps, by id.
func (s *Server) Apps() []App {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []App
	for _, id := range slices.Sorted(maps.Keys(s.st.Apps)) {
		a := s.st.Apps[id]
		pub, _ := decodePublicKey(a.PublicKeyPEM)
		out = append(out, App{ID: a.ID, Slug: a.Slug, Name: a.Name, ClientID: a.ClientID, PublicKey: pub})
	}
	return out
}

// DefaultPermissions are an installation's when none are given: what
// sandstep's App asks for.
func DefaultPermissions() map[string]string {
	return map[string]string{"contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read"}
}

// Installation is an App installed on an account.
type Installation struct {
	ID, AppID int64
	// Account is the login the App is installed on; AccountType is User
	// or Organization (the default).
	Account, AccountType string
	// Permissions by GitHub's names and levels; nil: DefaultPermissions.
	Permissions map[string]string
	// Repositories are the names (without the owner) of the account's
	// repositories the installation reaches, which must exist; nil:
	// every repository of the account, including later ones.
	Repositories []string
}

// AddInstallation installs an App; the id must be new and the App known.
func (s *Server) AddInstallation(in Installation) error {
	if in.ID <= 0 || in.Account == "" {
		return errors.New("githublocal: an installation needs an id and an account")
	}
	if in.AccountType == "" {
		in.AccountType = "Organization"
	}
	if in.Permissions == nil {
		in.Permissions = DefaultPermissions()
	}
	for name, level := range in.Permissions {
		if _, ok := levels[level]; !ok {
			return fmt.Errorf("githublocal: installation %d: permission %s: %q is not read, write or admin", in.ID, name, level)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Apps[in.AppID]; !ok {
		return fmt.Errorf("githublocal: installation %d: no App %d", in.ID, in.AppID)
	}
	if _, ok := s.st.Installations[in.ID]; ok {
		return fmt.Errorf("githublocal: installation %d exists", in.ID)
	}
	rec := &installationRecord{ID: in.ID, AppID: in.AppID, Account: in.Account, AccountType: in.AccountType,
		Permissions: maps.Clone(in.Permissions), CreatedAt: s.now().UTC()}
	if in.Repositories != nil {
		rec.Repositories = []int64{}
		for _, name := range in.Repositories {
			r, ok := s.st.repo(in.Account, name)
			if !ok {
				return fmt.Errorf("githublocal: installation %d: no repository %s/%s", in.ID, in.Account, name)
			}
			rec.Repositories = append(rec.Repositories, r.ID)
		}
	}
	s.st.Installations[in.ID] = rec
	return s.saveLocked()
}

// Installations lists the installations, by id. Repositories is nil for
// an installation that reaches every repository of its account.
func (s *Server) Installations() []Installation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Installation
	for _, id := range slices.Sorted(maps.Keys(s.st.Installations)) {
		in := s.st.Installations[id]
		got := Installation{ID: in.ID, AppID: in.AppID, Account: in.Account, AccountType: in.AccountType, Permissions: maps.Clone(in.Permissions)}
		if in.Repositories != nil {
			got.Repositories = []string{}
			for _, r := range s.st.Repos {
				if slices.Contains(in.Repositories, r.ID) {
					got.Repositories = append(got.Repositories, r.Name)
				}
			}
			slices.Sort(got.Repositories)
		}
		out = append(out, got)
	}
	return out
}

// Repository is a repository to create.
type Repository struct {
	Owner, Name string
	// OwnerType is User or Organization (the default).
	OwnerType string
	// Private repositories are seen only with a token that reaches them;
	// public ones are read (and cloned) by anyone.
	Private bool
	// DefaultBranch holds the initial commit; empty: main.
	DefaultBranch string
	// Files are the initial commit's, path -> content; nil: a README.md.
	Files map[string]string
}

var (
	ownerPattern  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	branchPattern = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,200}$`)
)

// CreateRepository makes a repository whose default branch holds one
// commit of r.Files, and returns its id.
func (s *Server) CreateRepository(r Repository) (int64, error) {
	if r.DefaultBranch == "" {
		r.DefaultBranch = "main"
	}
	if r.OwnerType == "" {
		r.OwnerType = "Organization"
	}
	switch {
	case !ownerPattern.MatchString(r.Owner):
		return 0, fmt.Errorf("githublocal: %q is not an account name", r.Owner)
	case !namePattern.MatchString(r.Name) || r.Name == "." || r.Name == ".." || strings.HasSuffix(r.Name, ".git"):
		return 0, fmt.Errorf("githublocal: %q is not a repository name", r.Name)
	case !branchPattern.MatchString(r.DefaultBranch) || strings.Contains(r.DefaultBranch, ".."):
		return 0, fmt.Errorf("githublocal: %q is not a branch name", r.DefaultBranch)
	}
	if r.Files == nil {
		r.Files = map[string]string{"README.md": "# " + r.Name + "\n"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.repo(r.Owner, r.Name); ok {
		return 0, fmt.Errorf("githublocal: repository %s/%s exists", r.Owner, r.Name)
	}
	rec := &repoRecord{ID: s.st.newID(), Owner: r.Owner, OwnerType: r.OwnerType, Name: r.Name, Private: r.Private,
		DefaultBranch: r.DefaultBranch, CreatedAt: s.now().UTC(), NextNumber: 1}
	dir := s.repoDir(rec)
	// A directory without a record is what a crash left: made again.
	if err := os.RemoveAll(dir); err != nil {
		return 0, fmt.Errorf("githublocal: %w", err)
	}
	if err := s.initRepo(dir, r.DefaultBranch, r.Files, s.now()); err != nil {
		return 0, fmt.Errorf("githublocal: create %s/%s: %w", r.Owner, r.Name, err)
	}
	s.st.Repos[rec.key()] = rec
	return rec.ID, s.saveLocked()
}

// Roles a collaborator may have, and the permission each one reports.
var roles = map[string]string{"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}

// SetCollaborator gives login a role on the repository (owner/name):
// admin, maintain, write, triage or read; "" removes it.
func (s *Server) SetCollaborator(repo, login, role string) error {
	if _, ok := roles[role]; !ok && role != "" {
		return fmt.Errorf("githublocal: %q is not a role (admin, maintain, write, triage, read)", role)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return err
	}
	if r.Collaborators == nil {
		r.Collaborators = map[string]string{}
	}
	if role == "" {
		delete(r.Collaborators, strings.ToLower(login))
	} else {
		r.Collaborators[strings.ToLower(login)] = role
	}
	return s.saveLocked()
}

// ProtectBranch turns the protection of a branch on or off: pushes to a
// protected branch are refused, as with GitHub's "require a pull request".
func (s *Server) ProtectBranch(repo, branch string, protected bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return err
	}
	r.Protected = slices.DeleteFunc(r.Protected, func(b string) bool { return b == branch })
	if protected {
		r.Protected = append(r.Protected, branch)
	}
	return s.saveLocked()
}

// CreateIssue opens an issue and returns its number.
func (s *Server) CreateIssue(repo, title, body, author string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return 0, err
	}
	n := r.NextNumber
	r.NextNumber++
	r.Issues = append(r.Issues, &issueRecord{Number: n, Title: title, Body: body, User: author, CreatedAt: s.now().UTC()})
	return n, s.saveLocked()
}

// Issue is an issue, as CreateIssue opened it.
type Issue struct {
	Number            int
	Title, Body, User string
	CreatedAt         time.Time
}

// Issues lists the issues of a repository, oldest first.
func (s *Server) Issues(repo string) ([]Issue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return nil, err
	}
	var out []Issue
	for _, is := range r.Issues {
		out = append(out, Issue{Number: is.Number, Title: is.Title, Body: is.Body, User: is.User, CreatedAt: is.CreatedAt})
	}
	return out, nil
}

// NextNumber is the number the repository's next issue or pull request
// gets (they share one sequence): what CreateIssue would return, read
// without opening one.
func (s *Server) NextNumber(repo string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return 0, err
	}
	return r.NextNumber, nil
}

// Comment is an issue comment.
type Comment struct {
	ID                   int64
	Issue                int
	Body, User           string
	CreatedAt, UpdatedAt time.Time
}

// Comments lists the comments of an issue (or pull request), oldest
// first.
func (s *Server) Comments(repo string, issue int) ([]Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return nil, err
	}
	var out []Comment
	for _, c := range s.commentsLocked(r, issue) {
		out = append(out, Comment{ID: c.ID, Issue: c.Issue, Body: c.Body, User: c.User, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt})
	}
	return out, nil
}

// PullRequest is a pull request; HeadSHA is its head when it was opened.
type PullRequest struct {
	Number                        int
	Title, Body, User, Head, Base string
	HeadSHA                       string
	Draft                         bool
	CreatedAt                     time.Time
}

// Pulls lists the pull requests of a repository, oldest first.
func (s *Server) Pulls(repo string) ([]PullRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return nil, err
	}
	var out []PullRequest
	for _, p := range r.Pulls {
		out = append(out, PullRequest{Number: p.Number, Title: p.Title, Body: p.Body, User: p.User, Head: p.Head, Base: p.Base,
			HeadSHA: p.HeadSHA, Draft: p.Draft, CreatedAt: p.CreatedAt})
	}
	return out, nil
}

// Branches lists the branches of a repository, by name.
func (s *Server) Branches(repo string) ([]Branch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return nil, err
	}
	return s.branches(s.repoDir(r))
}

// RepoDir is the bare repository's directory, for tests that look at it
// with git.
func (s *Server) RepoDir(repo string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoNamedLocked(repo)
	if err != nil {
		return "", err
	}
	return s.repoDir(r), nil
}

func (s *Server) repoNamedLocked(full string) (*repoRecord, error) {
	owner, name, _ := strings.Cut(full, "/")
	r, ok := s.st.repo(owner, name)
	if !ok {
		return nil, fmt.Errorf("githublocal: no repository %s", full)
	}
	return r, nil
}

// commentsLocked are an issue's comments, oldest first.
func (s *Server) commentsLocked(r *repoRecord, issue int) []*commentRecord {
	var out []*commentRecord
	for _, c := range s.st.Comments {
		if c.Repo == r.key() && c.Issue == issue {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *commentRecord) int { return int(a.ID - b.ID) })
	return out
}
