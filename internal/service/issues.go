package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Repositories says which repositories' issues may start tasks, and the
// task each one runs.
type Repositories interface {
	// Task is the task an issue of repo starts; ENOTFOUND when the
	// repository or the installation is not allowed.
	Task(ctx context.Context, repo string, installationID int64) (TaskInput, error)
	// CheckTasks asks check about each task it knows; the error names the
	// task's field by its path in the policy's document. New checks them
	// so that a task no issue could start fails the cold start, not every
	// delivery.
	CheckTasks(check func(repo string, t TaskInput) error) error
}

// Collaborators answers whether a GitHub user may start and cancel tasks
// on a repository: write, maintain or admin permission, as GitHub says.
type Collaborators interface {
	CanTrigger(ctx context.Context, installationID int64, repo, login string) (bool, error)
}

// IssueEvent is a GitHub issue asking for a task, or for its task's end.
// Title and Body are anyone's text: they reach the sandbox as a file,
// never a command.
type IssueEvent struct {
	// Delivery is GitHub's delivery id: a redelivery starts nothing new.
	Delivery       string
	Cancel         bool
	Repo           string
	InstallationID int64
	Issue          int
	Title, Body    string
	// Sender must have write, maintain or admin permission, whatever the
	// trigger (Collaborators).
	Sender string
	// ByComment: the trigger was a comment, not the label.
	ByComment     bool
	CloneURL      string
	DefaultBranch string
}

// IssueOutcome is what sandstep did with an IssueEvent.
type IssueOutcome struct {
	// Action: started, cancelled, busy (a task runs already) or ignored.
	Action string `json:"action"`
	TaskID string `json:"taskId,omitempty"`
	Why    string `json:"why,omitempty"`
}

// IssueFile is where an issue's task finds the issue, relative to the
// sandbox user's home: {repo, number, title, body, sender}.
const IssueFile = "sandstep-issue.json"

// HandleIssue starts the issue's task, or cancels it. One issue runs one
// task at a time (the issue's claim, see Tasks.IssueTask); the task
// belongs to the repository's user (sandstep.RepoUser), within its own
// quota.
func (s *Service) HandleIssue(ctx context.Context, ev IssueEvent) (*IssueOutcome, error) {
	if s.repos == nil || s.collaborators == nil {
		// A webhook without an App: the delivery is answered (GitHub shows
		// why in its delivery log), not failed as if it could succeed.
		s.opts.Logger.WarnContext(ctx, "an issue's delivery came to a deployment without a GitHub App", "repo", ev.Repo)
		return &IssueOutcome{Action: "ignored", Why: "this deployment has no GitHub App (GITHUB_APP_ID), so issues cannot start tasks"}, nil
	}
	// A redelivery is answered as the first delivery was, before anything
	// is asked again. An ignored delivery is not remembered: sent again
	// once the document or the sender's permission has changed, it is
	// checked again.
	call := Call{UserID: sandstep.RepoUser(ev.Repo), RequestID: ev.Delivery, IdempotencyKey: "github-" + ev.Delivery, AskedAt: s.opts.Now(),
		Sender: ev.Sender}
	var ignored *IssueOutcome
	out, err := idempotent(ctx, s, call, "github", ev, func(ctx context.Context) (*IssueOutcome, error) {
		call.IdempotencyKey = ""
		spec, why, err := s.issueTrigger(ctx, ev)
		if err != nil {
			return nil, err
		}
		if why != "" {
			ignored = &IssueOutcome{Action: "ignored", Why: why}
			return nil, errNotRemembered
		}
		return s.handleIssue(ctx, call, ev, spec)
	})
	if ignored != nil {
		return ignored, nil
	}
	return out, err
}

// errNotRemembered frees a delivery's idempotency key: its answer is
// given, not kept.
var errNotRemembered = errors.New("an answer not to remember")

// issueTrigger is the repository's task for ev, or why ev is ignored: a
// repository the document does not list, a sender who cannot write.
func (s *Service) issueTrigger(ctx context.Context, ev IssueEvent) (TaskInput, string, error) {
	spec, err := s.repos.Task(ctx, ev.Repo, ev.InstallationID)
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return TaskInput{}, sandstep.ErrorMessage(err), nil
	}
	if err != nil {
		return TaskInput{}, "", err
	}
	// Every trigger is checked, a label's too: GitHub lets triage-level
	// users label, and a task spends the repository's quota and opens a
	// pull request, which takes write, maintain or admin.
	ok, err := s.collaborators.CanTrigger(ctx, ev.InstallationID, ev.Repo, ev.Sender)
	if err != nil {
		return TaskInput{}, "", fmt.Errorf("ask GitHub for %s's permission: %w", ev.Sender, err)
	}
	if !ok {
		who := "the labeller"
		if ev.ByComment {
			who = "the commenter"
		}
		return TaskInput{}, who + " cannot write to the repository", nil
	}
	return spec, "", nil
}

func (s *Service) handleIssue(ctx context.Context, call Call, ev IssueEvent, spec TaskInput) (*IssueOutcome, error) {
	if ev.Cancel {
		return s.cancelIssue(ctx, call, ev)
	}
	out, err := s.busyUnlessEnded(ctx, call, ev, func() (*sandstep.Task, error) {
		return s.issueTask(ctx, call, ev)
	})
	if out != nil || err != nil {
		return out, err
	}
	if err := issueSpec(&spec, ev); err != nil {
		return nil, err
	}
	// The list is eventually consistent: two deliveries at once (a label
	// and a comment) may both find no task. The issue's claim, written
	// with the task's record, lets one start; the other is told of it.
	for range 2 {
		t, err := s.startTask(ctx, call, spec, func(ctx context.Context, t *sandstep.Task) {
			s.commentOnIssue(ctx, t, s.startedComment(t), false)
		})
		if err == nil {
			return &IssueOutcome{Action: "started", TaskID: t.ID}, nil
		}
		if errors.Is(err, sandstep.ErrIssueCancelled) {
			return &IssueOutcome{Action: "ignored", Why: "the issue's task was cancelled (the label removed, or cancel commented) while it was being started"}, nil
		}
		if sandstep.ErrorCode(err) != sandstep.ECONFLICT || sandstep.ErrorField(err) != sandstep.IssueClaimField {
			return nil, err
		}
		out, err := s.busyUnlessEnded(ctx, call, ev, func() (*sandstep.Task, error) {
			return s.tasks.IssueTask(ctx, ev.Repo, strconv.Itoa(ev.Issue))
		})
		if out != nil || err != nil {
			return out, err
		}
		// The task that held it ended since: start again.
	}
	return nil, sandstep.Errorf(sandstep.ETRANSIENT, "the issue's task keeps changing; send the delivery again")
}

// busyUnlessEnded answers a start busy with the issue's live task, as
// find reads it; nil, and the start goes on, when there is none or
// endCancelled ends it.
func (s *Service) busyUnlessEnded(ctx context.Context, call Call, ev IssueEvent, find func() (*sandstep.Task, error)) (*IssueOutcome, error) {
	current, err := find()
	if err == nil && current != nil {
		current, err = s.endCancelled(ctx, call, ev, current)
	}
	if err != nil || current == nil {
		return nil, err
	}
	return s.busy(ctx, current, ev), nil
}

// endCancelled is current, the issue's live task, unless a cancel that
// came before this start (the label removed, then put back) is ending it:
// asked for before the issue's last cancel mark, it is being cancelled
// (the cancel stores its last output first, a second or more), and a
// start answered busy by it would be lost with it. Such a task is
// cancelled here too, as that cancel would, and nil answered: the start
// goes on. Read only when the issue has a live task.
func (s *Service) endCancelled(ctx context.Context, call Call, ev IssueEvent, current *sandstep.Task) (*sandstep.Task, error) {
	mark, err := s.tasks.IssueCancelledAt(ctx, ev.Repo, strconv.Itoa(ev.Issue))
	if err != nil {
		return nil, fmt.Errorf("read the cancel mark of issue %s#%d: %w", ev.Repo, ev.Issue, err)
	}
	if mark.IsZero() || current.CreatedAt.After(mark) || mark.After(call.AskedAt) {
		// No cancel, one that spares it, or one after this start (which
		// refuses the start's write in turn).
		return current, nil
	}
	// The cancel is the label's remover's, whose name the mark does not
	// keep: its events name no sender rather than this start's.
	finish := call
	finish.Sender = ""
	t, err := s.CancelTask(ctx, finish, current.ID)
	if err != nil {
		return nil, err
	}
	if !t.Status.Terminal() {
		return t, nil
	}
	return nil, nil
}

// busy notes, in the issue's one comment, a trigger of an issue whose
// task t runs (t read from its record: the comment's id is its). A task
// without a comment yet is being announced by its start, which may be
// creating the comment now: a note would be a second comment, so none is
// written.
//
// The task may end meanwhile, and its end write the comment (after its
// record) before the note lands on it: tellEndedSince writes it again.
func (s *Service) busy(ctx context.Context, t *sandstep.Task, ev IssueEvent) *IssueOutcome {
	if t.IssueComment != 0 {
		s.commentOnIssue(ctx, t, s.busyComment(ctx, t, ev.Sender), false)
		s.tellEndedSince(ctx, t, false)
	}
	return &IssueOutcome{Action: "busy", TaskID: t.ID, Why: "a task runs for this issue already"}
}

// cancelIssue cancels the issue's task, and a start of one on its way:
// the issue is marked cancelled first (a start asked for before then is
// refused at its task's write), then its task read and cancelled, unless
// it was asked for after this cancel (the label put back since).
//
// A mark that cannot be written (the database busy) does not keep the
// task found from being cancelled; the delivery then fails all the same,
// so GitHub shows it and it can be sent again for a start on its way.
func (s *Service) cancelIssue(ctx context.Context, call Call, ev IssueEvent) (*IssueOutcome, error) {
	issue := strconv.Itoa(ev.Issue)
	markErr := s.tasks.MarkIssueCancelled(ctx, ev.Repo, issue, call.AskedAt)
	if markErr != nil {
		markErr = fmt.Errorf("mark issue %s#%d cancelled: %w", ev.Repo, ev.Issue, markErr)
	}
	current, err := s.issueTask(ctx, call, ev)
	if err == nil && current == nil {
		// The list may not show a task started a moment ago; its claim does.
		current, err = s.tasks.IssueTask(ctx, ev.Repo, issue)
	}
	if err != nil {
		return nil, errors.Join(markErr, err)
	}
	var out *IssueOutcome
	switch {
	case current == nil:
		out = &IssueOutcome{Action: "ignored", Why: "no task runs for this issue; one being started now will not run"}
	case current.CreatedAt.After(call.AskedAt):
		out = &IssueOutcome{Action: "ignored", TaskID: current.ID, Why: "the issue's task was asked for after this cancel; it runs on"}
	default:
		t, err := s.CancelTask(ctx, call, current.ID)
		if err != nil {
			return nil, errors.Join(markErr, err)
		}
		out = &IssueOutcome{Action: "cancelled", TaskID: t.ID}
	}
	if markErr != nil {
		return nil, markErr
	}
	return out, nil
}

// issueTask is the issue's live task, if any, as its record says.
func (s *Service) issueTask(ctx context.Context, call Call, ev IssueEvent) (*sandstep.Task, error) {
	issue := strconv.Itoa(ev.Issue)
	cursor := ""
	for {
		page, next, err := s.tasks.ListTasks(ctx, call.UserID, MaxListLimit, cursor, liveTasks...)
		if err != nil {
			return nil, fmt.Errorf("list the tasks of %s: %w", ev.Repo, err)
		}
		for _, t := range page {
			if t.Metadata.IssueID != issue {
				continue
			}
			// The list is an eventually consistent index: an entry may
			// lack the comment's id (a busy note would then write a
			// second comment) or show a task that has ended since.
			t, err := s.tasks.GetTask(ctx, t.ID)
			if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read the task of issue %s#%d: %w", ev.Repo, ev.Issue, err)
			}
			if !t.Status.Terminal() {
				return t, nil
			}
		}
		if next == "" {
			return nil, nil
		}
		cursor = next
	}
}

// checkIssueTask says whether repo's task is one an issue could start,
// as HandleIssue makes it the issue's, reading nothing: its fields, and
// the secrets it names, as the repository's; the error names the field.
func (s *Service) checkIssueTask(repo string, spec TaskInput) error {
	if spec.Sandbox.Git != nil {
		// The clone, the push token and the pull request follow it: only
		// the issue's own repository may be named, and the delivery names it.
		return sandstep.Invalid("sandbox.git", "is the issue's repository, cloned at its default branch; a repository's task may not name another")
	}
	if err := issueSpec(&spec, IssueEvent{Repo: repo, Issue: 1, CloneURL: "https://github.com/" + repo + ".git", DefaultBranch: "main"}); err != nil {
		return err
	}
	if _, err := s.validateTask(&spec); err != nil {
		return err
	}
	refs := secretRefs("sandbox.", &spec.Sandbox)
	if spec.Notify != nil && spec.Notify.SecretRef != "" {
		refs = append(refs, namedRef{"notify.secretRef", spec.Notify.SecretRef})
	}
	_, err := s.checkRefs(sandstep.RepoUser(repo), refs)
	return err
}

// issueSpec makes the repository's task the issue's: its metadata, the
// repository cloned at its default branch, the issue as a file.
func issueSpec(spec *TaskInput, ev IssueEvent) error {
	issue, err := json.Marshal(map[string]any{"repo": ev.Repo, "number": ev.Issue, "title": ev.Title, "body": ev.Body, "sender": ev.Sender})
	if err != nil {
		return sandstep.Wrap(err, sandstep.EINTERNAL, "encode the issue")
	}
	spec.Metadata = sandstep.Metadata{InstallationID: strconv.FormatInt(ev.InstallationID, 10), IssueID: strconv.Itoa(ev.Issue), Repo: ev.Repo}
	spec.Sandbox.Git = nil
	if ev.CloneURL != "" {
		spec.Sandbox.Git = &GitSource{URL: ev.CloneURL, Branch: ev.DefaultBranch}
	}
	// Clipped: the policy's task is never written through.
	spec.Sandbox.Files = append(slices.Clip(spec.Sandbox.Files), File{Path: IssueFile, ContentBase64: base64.StdEncoding.EncodeToString(issue)})
	return nil
}
