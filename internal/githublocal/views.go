package githublocal

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// The JSON the REST API answers, with GitHub's field names: the parts of
// each object a client of these endpoints reads, not every field.

type userJSON struct {
	Login     string `json:"login"`
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	URL       string `json:"url"`
	HTMLURL   string `json:"html_url"`
	Type      string `json:"type"`
	SiteAdmin bool   `json:"site_admin"`
}

// userID is a stable id for a login: users are not stored, only named.
func userID(login string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.ToLower(login)))
	return 1_000_000 + int64(h.Sum32()%1_000_000_000)
}

func userView(base, login, typ string) userJSON {
	id := userID(login)
	return userJSON{Login: login, ID: id, NodeID: fmt.Sprintf("U_local%d", id), URL: base + "/users/" + login,
		HTMLURL: base + "/" + login, Type: typ}
}

type repoJSON struct {
	ID            int64    `json:"id"`
	NodeID        string   `json:"node_id"`
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	Private       bool     `json:"private"`
	Owner         userJSON `json:"owner"`
	HTMLURL       string   `json:"html_url"`
	Description   *string  `json:"description"`
	Fork          bool     `json:"fork"`
	URL           string   `json:"url"`
	CloneURL      string   `json:"clone_url"`
	DefaultBranch string   `json:"default_branch"`
	Visibility    string   `json:"visibility"`
	Archived      bool     `json:"archived"`
	Disabled      bool     `json:"disabled"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`
}

func (s *Server) repoJSONLocked(base string, r *repoRecord) repoJSON {
	visibility := "public"
	if r.Private {
		visibility = "private"
	}
	return repoJSON{
		ID: r.ID, NodeID: fmt.Sprintf("R_local%d", r.ID), Name: r.Name, FullName: r.fullName(), Private: r.Private,
		Owner: userView(base, r.Owner, r.OwnerType), HTMLURL: base + "/" + r.fullName(), URL: base + "/repos/" + r.fullName(),
		CloneURL: base + "/" + r.fullName() + ".git", DefaultBranch: r.DefaultBranch, Visibility: visibility,
		CreatedAt: timestamp(r.CreatedAt), UpdatedAt: timestamp(r.CreatedAt),
	}
}

type tokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
	Repositories        []repoJSON        `json:"repositories,omitempty"`
}

type installationJSON struct {
	ID                  int64             `json:"id"`
	Account             userJSON          `json:"account"`
	AppID               int64             `json:"app_id"`
	AppSlug             string            `json:"app_slug"`
	TargetID            int64             `json:"target_id"`
	TargetType          string            `json:"target_type"`
	Permissions         map[string]string `json:"permissions"`
	Events              []string          `json:"events"`
	RepositorySelection string            `json:"repository_selection"`
	AccessTokensURL     string            `json:"access_tokens_url"`
	RepositoriesURL     string            `json:"repositories_url"`
	HTMLURL             string            `json:"html_url"`
	CreatedAt           string            `json:"created_at"`
	UpdatedAt           string            `json:"updated_at"`
	SuspendedAt         *string           `json:"suspended_at"`
}

func (s *Server) installationJSONLocked(base string, inst *installationRecord) installationJSON {
	app := s.st.Apps[inst.AppID]
	selection := "all"
	if inst.Repositories != nil {
		selection = "selected"
	}
	account := userView(base, inst.Account, inst.AccountType)
	return installationJSON{
		ID: inst.ID, Account: account, AppID: app.ID, AppSlug: app.Slug, TargetID: account.ID, TargetType: inst.AccountType,
		Permissions: inst.Permissions, Events: []string{"issues", "issue_comment"}, RepositorySelection: selection,
		AccessTokensURL: fmt.Sprintf("%s/app/installations/%d/access_tokens", base, inst.ID),
		RepositoriesURL: base + "/installation/repositories",
		HTMLURL:         fmt.Sprintf("%s/settings/installations/%d", base, inst.ID),
		CreatedAt:       timestamp(inst.CreatedAt), UpdatedAt: timestamp(inst.CreatedAt),
	}
}

type commentJSON struct {
	ID                int64    `json:"id"`
	NodeID            string   `json:"node_id"`
	URL               string   `json:"url"`
	HTMLURL           string   `json:"html_url"`
	IssueURL          string   `json:"issue_url"`
	Body              string   `json:"body"`
	User              userJSON `json:"user"`
	CreatedAt         string   `json:"created_at"`
	UpdatedAt         string   `json:"updated_at"`
	AuthorAssociation string   `json:"author_association"`
}

func commentView(base string, repo *repoRecord, c *commentRecord) commentJSON {
	return commentJSON{
		ID: c.ID, NodeID: fmt.Sprintf("IC_local%d", c.ID),
		URL:      fmt.Sprintf("%s/repos/%s/issues/comments/%d", base, repo.fullName(), c.ID),
		HTMLURL:  fmt.Sprintf("%s/%s/issues/%d#issuecomment-%d", base, repo.fullName(), c.Issue, c.ID),
		IssueURL: fmt.Sprintf("%s/repos/%s/issues/%d", base, repo.fullName(), c.Issue),
		Body:     c.Body, User: userView(base, c.User, userType(c.User)),
		CreatedAt: timestamp(c.CreatedAt), UpdatedAt: timestamp(c.UpdatedAt),
		AuthorAssociation: association(repo, c.User),
	}
}

// userType tells an App's bot from a person by its login, as GitHub's
// [bot] suffix does.
func userType(login string) string {
	if strings.HasSuffix(login, "[bot]") {
		return "Bot"
	}
	return "User"
}

// association is a user's author_association on repo.
func association(repo *repoRecord, login string) string {
	switch {
	case strings.EqualFold(login, repo.Owner):
		return "OWNER"
	case repo.Collaborators[strings.ToLower(login)] != "":
		return "COLLABORATOR"
	}
	return "NONE"
}

type pullRefJSON struct {
	Label string   `json:"label"`
	Ref   string   `json:"ref"`
	SHA   string   `json:"sha"`
	User  userJSON `json:"user"`
	Repo  repoJSON `json:"repo"`
}

type pullJSON struct {
	ID                  int64       `json:"id"`
	NodeID              string      `json:"node_id"`
	Number              int         `json:"number"`
	State               string      `json:"state"`
	Locked              bool        `json:"locked"`
	Title               string      `json:"title"`
	Body                string      `json:"body"`
	User                userJSON    `json:"user"`
	CreatedAt           string      `json:"created_at"`
	UpdatedAt           string      `json:"updated_at"`
	ClosedAt            *string     `json:"closed_at"`
	MergedAt            *string     `json:"merged_at"`
	Draft               bool        `json:"draft"`
	Merged              bool        `json:"merged"`
	URL                 string      `json:"url"`
	HTMLURL             string      `json:"html_url"`
	IssueURL            string      `json:"issue_url"`
	CommentsURL         string      `json:"comments_url"`
	Head                pullRefJSON `json:"head"`
	Base                pullRefJSON `json:"base"`
	AuthorAssociation   string      `json:"author_association"`
	MaintainerCanModify bool        `json:"maintainer_can_modify"`
}

func (s *Server) pullJSONLocked(base string, repo *repoRecord, p *pullRecord) pullJSON {
	rj := s.repoJSONLocked(base, repo)
	ref := func(branch, sha string) pullRefJSON {
		return pullRefJSON{Label: repo.Owner + ":" + branch, Ref: branch, SHA: sha, User: rj.Owner, Repo: rj}
	}
	api := fmt.Sprintf("%s/repos/%s", base, repo.fullName())
	return pullJSON{
		ID: p.ID, NodeID: fmt.Sprintf("PR_local%d", p.ID), Number: p.Number, State: "open", Title: p.Title, Body: p.Body,
		User: userView(base, p.User, userType(p.User)), CreatedAt: timestamp(p.CreatedAt), UpdatedAt: timestamp(p.CreatedAt),
		Draft: p.Draft, URL: fmt.Sprintf("%s/pulls/%d", api, p.Number),
		HTMLURL:     fmt.Sprintf("%s/%s/pull/%d", base, repo.fullName(), p.Number),
		IssueURL:    fmt.Sprintf("%s/issues/%d", api, p.Number),
		CommentsURL: fmt.Sprintf("%s/issues/%d/comments", api, p.Number),
		Head:        ref(p.Head, p.HeadSHA), Base: ref(p.Base, p.BaseSHA),
		AuthorAssociation: association(repo, p.User),
	}
}

type commitAuthorJSON struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

type shaURLJSON struct {
	SHA string `json:"sha"`
	URL string `json:"url"`
}

type branchJSON struct {
	Name   string `json:"name"`
	Commit struct {
		SHA    string `json:"sha"`
		URL    string `json:"url"`
		Commit struct {
			Message   string           `json:"message"`
			Author    commitAuthorJSON `json:"author"`
			Committer commitAuthorJSON `json:"committer"`
			Tree      shaURLJSON       `json:"tree"`
		} `json:"commit"`
		Parents []shaURLJSON `json:"parents"`
	} `json:"commit"`
	Protected     bool   `json:"protected"`
	ProtectionURL string `json:"protection_url"`
}

type permissionJSON struct {
	Permission string   `json:"permission"`
	RoleName   string   `json:"role_name"`
	User       userJSON `json:"user"`
}
