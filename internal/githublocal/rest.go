package githublocal

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// refuse answers an error and logs it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, e *apiError) {
	s.log.Info("githublocal: request refused", "method", r.Method, "path", r.URL.Path, "status", e.status, "message", e.message)
	e.write(w)
}

// fail answers 500 for the server's own failure.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("githublocal: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	(&apiError{status: http.StatusInternalServerError, message: "Server Error", docs: docsREST}).write(w)
}

// repoRequestLocked authenticates a request on /repos/{owner}/{repo}/...
// and authorizes it (see authorizeLocked); false means it was answered.
func (s *Server) repoRequestLocked(w http.ResponseWriter, r *http.Request, write bool, docs string, needs ...need) (*caller, *repoRecord, bool) {
	c, aerr := s.authTokenLocked(r)
	if aerr != nil {
		s.refuse(w, r, aerr)
		return nil, nil, false
	}
	repo, ok := s.st.repo(r.PathValue("owner"), r.PathValue("repo"))
	if !ok {
		s.refuse(w, r, notFound(docs))
		return nil, nil, false
	}
	if aerr := authorizeLocked(c, repo, write, docs, needs...); aerr != nil {
		s.refuse(w, r, aerr)
		return nil, nil, false
	}
	return c, repo, true
}

// getRepo is GET /repos/{owner}/{repo}.
func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, repo, ok := s.repoRequestLocked(w, r, false, docsRepo, need{"metadata", "read"})
	if ok {
		writeJSON(w, http.StatusOK, s.repoJSONLocked(baseURL(r), repo))
	}
}

// getPermission is GET /repos/{owner}/{repo}/collaborators/{user}/permission:
// the collaborator's role, the owner's admin, and otherwise read on a
// public repository and none on a private one.
func (s *Server) getPermission(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, repo, ok := s.repoRequestLocked(w, r, false, docsPerm, need{"metadata", "read"})
	if !ok {
		return
	}
	login := r.PathValue("user")
	role := repo.Collaborators[strings.ToLower(login)]
	switch {
	case role != "":
	case strings.EqualFold(login, repo.Owner) && repo.OwnerType == "User":
		role = "admin"
	case !repo.Private:
		role = "read"
	default:
		role = "none"
	}
	perm := roles[role]
	if role == "none" {
		perm = "none"
	}
	writeJSON(w, http.StatusOK, permissionJSON{Permission: perm, RoleName: role, User: userView(baseURL(r), login, userType(login))})
}

// issueNeeds are the permissions that suffice on issue n: issues, or
// pull_requests too when n is a pull request, at write level for a write.
// nil means n does not exist.
func issueNeeds(repo *repoRecord, n int, write bool) []need {
	level := "read"
	if write {
		level = "write"
	}
	if _, ok := repo.pull(n); ok {
		return []need{{"issues", level}, {"pull_requests", level}}
	}
	if _, ok := repo.issue(n); ok {
		return []need{{"issues", level}}
	}
	return nil
}

// authorizeIssueLocked authorizes a request on issue (or pull) number n of
// repo; false means it was answered, not found when there is no such
// issue.
func (s *Server) authorizeIssueLocked(w http.ResponseWriter, r *http.Request, c *caller, repo *repoRecord, n int, write bool) bool {
	needs := issueNeeds(repo, n, write)
	if needs == nil {
		s.refuse(w, r, notFound(docsComments))
		return false
	}
	if aerr := authorizeLocked(c, repo, write, docsComments, needs...); aerr != nil {
		s.refuse(w, r, aerr)
		return false
	}
	return true
}

// issueRequestLocked authorizes a request on the issue (or pull) the path
// numbers n.
func (s *Server) issueRequestLocked(w http.ResponseWriter, r *http.Request, n string, write bool) (*caller, *repoRecord, int, bool) {
	c, repo, ok := s.repoRequestLocked(w, r, write, docsComments)
	if !ok {
		return nil, nil, 0, false
	}
	num, err := strconv.Atoi(n)
	if err != nil {
		num = 0 // no issue: numbers start at 1
	}
	if !s.authorizeIssueLocked(w, r, c, repo, num, write) {
		return nil, nil, 0, false
	}
	return c, repo, num, true
}

// commentInput is the body of a comment's create and update.
type commentInput struct {
	Body *string `json:"body"`
}

// hasBody refuses a comment without a body as GitHub does, once the
// request is authorized; false means it was answered.
func (s *Server) hasBody(w http.ResponseWriter, r *http.Request, in commentInput) bool {
	if in.Body == nil || *in.Body == "" {
		s.refuse(w, r, validationFailed(docsComments, fieldError{Resource: "IssueComment", Field: "body", Code: "missing_field"}))
		return false
	}
	return true
}

// createComment is POST /repos/{owner}/{repo}/issues/{number}/comments.
func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	var in commentInput
	if !s.decodeBody(w, r, &in, docsComments) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, repo, num, ok := s.issueRequestLocked(w, r, r.PathValue("number"), true)
	if !ok || !s.hasBody(w, r, in) {
		return
	}
	now := s.now().UTC()
	cm := &commentRecord{ID: s.st.newID(), Repo: repo.key(), Issue: num, Body: *in.Body, User: c.login, CreatedAt: now, UpdatedAt: now}
	s.st.Comments[cm.ID] = cm
	if err := s.saveLocked(); err != nil {
		delete(s.st.Comments, cm.ID)
		s.fail(w, r, err)
		return
	}
	v := commentView(baseURL(r), repo, cm)
	w.Header().Set("Location", v.URL)
	writeJSON(w, http.StatusCreated, v)
}

// getIssuePath serves GET .../issues/comments/{id} and
// GET .../issues/{number}/comments.
func (s *Server) getIssuePath(w http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "comments":
		s.getComment(w, r, b)
	case b == "comments":
		s.listComments(w, r, a)
	default:
		s.refuse(w, r, notFound(docsREST))
	}
}

// commentRequestLocked finds comment id of repo for a request on it, and
// authorizes it as a request on the comment's issue.
func (s *Server) commentRequestLocked(w http.ResponseWriter, r *http.Request, id string, write bool) (*caller, *repoRecord, *commentRecord, bool) {
	c, repo, ok := s.repoRequestLocked(w, r, write, docsComments)
	if !ok {
		return nil, nil, nil, false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	cm, found := s.st.Comments[n]
	if err != nil || !found || cm.Repo != repo.key() {
		s.refuse(w, r, notFound(docsComments))
		return nil, nil, nil, false
	}
	if !s.authorizeIssueLocked(w, r, c, repo, cm.Issue, write) {
		return nil, nil, nil, false
	}
	return c, repo, cm, true
}

func (s *Server) getComment(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, repo, cm, ok := s.commentRequestLocked(w, r, id, false); ok {
		writeJSON(w, http.StatusOK, commentView(baseURL(r), repo, cm))
	}
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request, number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, repo, num, ok := s.issueRequestLocked(w, r, number, false)
	if !ok {
		return
	}
	all := s.commentsLocked(repo, num)
	// GitHub's since: only the comments updated at or after it.
	if since, err := time.Parse(time.RFC3339, r.URL.Query().Get("since")); err == nil {
		all = slices.DeleteFunc(slices.Clone(all), func(c *commentRecord) bool { return c.UpdatedAt.Before(since) })
	}
	lo, hi := paginate(w, r, len(all))
	out := []commentJSON{}
	for _, cm := range all[lo:hi] {
		out = append(out, commentView(baseURL(r), repo, cm))
	}
	writeJSON(w, http.StatusOK, out)
}

// updateComment is PATCH /repos/{owner}/{repo}/issues/comments/{id}.
func (s *Server) updateComment(w http.ResponseWriter, r *http.Request) {
	var in commentInput
	if !s.decodeBody(w, r, &in, docsComments) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, repo, cm, ok := s.commentRequestLocked(w, r, r.PathValue("id"), true)
	if !ok || !s.hasBody(w, r, in) {
		return
	}
	old := *cm
	cm.Body, cm.UpdatedAt = *in.Body, s.now().UTC()
	if err := s.saveLocked(); err != nil {
		*cm = old
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, commentView(baseURL(r), repo, cm))
}

// createPull is POST /repos/{owner}/{repo}/pulls, with GitHub's checks:
// both branches exist in the repository, head has commits base lacks,
// and no open pull request has the same head and base.
func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title *string `json:"title"`
		Body  string  `json:"body"`
		Head  string  `json:"head"`
		Base  string  `json:"base"`
		Draft bool    `json:"draft"`
	}
	if !s.decodeBody(w, r, &in, docsPulls) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, repo, ok := s.repoRequestLocked(w, r, true, docsPulls, need{"pull_requests", "write"})
	if !ok {
		return
	}
	invalid := func(field, code string) {
		s.refuse(w, r, validationFailed(docsPulls, fieldError{Resource: "PullRequest", Field: field, Code: code}))
	}
	custom := func(msg string) {
		s.refuse(w, r, validationFailed(docsPulls, fieldError{Resource: "PullRequest", Code: "custom", Message: msg}))
	}
	switch {
	case in.Title == nil || *in.Title == "":
		invalid("title", "missing_field")
		return
	case in.Head == "":
		invalid("head", "missing_field")
		return
	case in.Base == "":
		invalid("base", "missing_field")
		return
	}
	head := in.Head
	if owner, branch, qualified := strings.Cut(in.Head, ":"); qualified {
		if !strings.EqualFold(owner, repo.Owner) {
			// A fork's branch: there are no forks here.
			invalid("head", "invalid")
			return
		}
		head = branch
	}
	dir := s.repoDir(repo)
	headSHA, baseSHA := s.branchSHA(dir, head), s.branchSHA(dir, in.Base)
	switch {
	case headSHA == "":
		invalid("head", "invalid")
		return
	case baseSHA == "":
		invalid("base", "invalid")
		return
	}
	for _, p := range repo.Pulls {
		if p.Head == head && p.Base == in.Base {
			custom(fmt.Sprintf("A pull request already exists for %s:%s.", repo.Owner, head))
			return
		}
	}
	n, err := s.commitsBetween(dir, baseSHA, headSHA)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if n == 0 {
		custom(fmt.Sprintf("No commits between %s and %s", in.Base, head))
		return
	}
	p := &pullRecord{ID: s.st.newID(), Number: repo.NextNumber, Title: *in.Title, Body: in.Body, User: c.login,
		Head: head, Base: in.Base, HeadSHA: headSHA, BaseSHA: baseSHA, Draft: in.Draft, CreatedAt: s.now().UTC()}
	repo.NextNumber++
	repo.Pulls = append(repo.Pulls, p)
	if err := s.saveLocked(); err != nil {
		repo.Pulls = repo.Pulls[:len(repo.Pulls)-1]
		repo.NextNumber--
		s.fail(w, r, err)
		return
	}
	v := s.pullJSONLocked(baseURL(r), repo, p)
	w.Header().Set("Location", v.URL)
	writeJSON(w, http.StatusCreated, v)
}

// listPulls is GET /repos/{owner}/{repo}/pulls: state (open, the
// default, closed or all; every pull here is open), head (owner:branch)
// and base filters, newest first.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, repo, ok := s.repoRequestLocked(w, r, false, docsPulls, need{"pull_requests", "read"})
	if !ok {
		return
	}
	q := r.URL.Query()
	var list []*pullRecord
	if st := q.Get("state"); st == "" || st == "open" || st == "all" {
		for _, p := range slices.Backward(repo.Pulls) {
			if h := q.Get("head"); h != "" && !strings.EqualFold(h, repo.Owner+":"+p.Head) {
				continue
			}
			if b := q.Get("base"); b != "" && b != p.Base {
				continue
			}
			list = append(list, p)
		}
	}
	lo, hi := paginate(w, r, len(list))
	dir := s.repoDir(repo)
	out := []pullJSON{}
	for _, p := range list[lo:hi] {
		v := s.pullJSONLocked(baseURL(r), repo, p)
		// The head moves with pushes to the branch, as on GitHub.
		if sha := s.branchSHA(dir, p.Head); sha != "" {
			v.Head.SHA = sha
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// getBranch is GET /repos/{owner}/{repo}/branches/{branch}.
func (s *Server) getBranch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, repo, ok := s.repoRequestLocked(w, r, false, docsBranch, need{"contents", "read"})
	if !ok {
		return
	}
	name := r.PathValue("branch")
	dir := s.repoDir(repo)
	sha := ""
	if branchPattern.MatchString(name) {
		sha = s.branchSHA(dir, name)
	}
	if sha == "" {
		s.refuse(w, r, &apiError{status: http.StatusNotFound, message: "Branch not found", docs: docsBranch})
		return
	}
	api := baseURL(r) + "/repos/" + repo.fullName()
	b := branchJSON{Name: name, Protected: repo.protected(name), ProtectionURL: api + "/branches/" + url.PathEscape(name) + "/protection"}
	if err := s.commitInfo(dir, sha, api, &b); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// paginate picks the page of n items the request asks for (page,
// per_page: 30 by default, at most 100) and sets GitHub's Link header.
func paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per < 1 {
		per = 30
	}
	per = min(per, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (n+per-1)/per)
	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, baseURL(r), r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(min(page-1, last), "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((page-1)*per, n)
	return lo, min(lo+per, n)
}
