package daytonaprovider

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// The asynchronous path of long tasks (service.Sessions) and file reads
// (service.Files).

// StartCommand starts line asynchronously in session sid, made for it, and
// returns the command's id. A session left by an earlier attempt is
// reused: that attempt's answer may have been lost (a 5xx, a timeout)
// after its command started, or before it reached the session's shell.
// The session runs line again after it, so a line that must run once
// guards itself (a task's does: it sees what the first left in the
// session's shell).
func (p *Provider) StartCommand(ctx context.Context, id, sid, line string) (string, error) {
	var cmdID string
	err := p.onStarted(ctx, "start the task's command", id, func() (err error) {
		cmdID, err = p.startCommand(ctx, id, sid, line)
		return err
	})
	return cmdID, err
}

// startCommand is StartCommand's one try, its errors unclassified.
func (p *Provider) startCommand(ctx context.Context, id, sid, line string) (string, error) {
	if err := p.c.CreateSession(ctx, id, sid); err != nil {
		var ae *daytona.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 409 {
			return "", err
		}
	}
	res, err := p.c.ExecuteSessionCommand(ctx, id, sid, daytona.SessionExecuteRequest{Command: line, RunAsync: true})
	if err != nil {
		return "", err
	}
	return res.CmdID, nil
}

// CommandExit returns the command's exit code, nil while it runs. A
// sandbox Daytona stopped mid-task is reported (ECONFLICT), never waited
// on; one that is gone is ENOTFOUND.
func (p *Provider) CommandExit(ctx context.Context, id, sid, cmdID string) (*int, error) {
	c, err := p.c.GetSessionCommand(ctx, id, sid, cmdID)
	if err == nil {
		return c.ExitCode, nil
	}
	sb, gerr := p.c.GetSandbox(ctx, id)
	// A stop or delete Daytona has begun shows in desiredState before
	// the state moves off started.
	switch {
	case daytona.IsNotFound(gerr), gerr == nil && (sb.State == daytona.StateDestroyed || sb.State == daytona.StateDestroying ||
		sb.DesiredState == daytona.DesiredDestroyed):
		return nil, sandstep.Wrap(err, sandstep.ENOTFOUND, "the task's sandbox no longer exists at Daytona")
	case gerr == nil && sb.State != daytona.StateStarted:
		return nil, sandstep.Wrap(err, sandstep.ECONFLICT, "the task's sandbox was %s while its command ran", sb.State)
	case gerr == nil && leaving(sb):
		return nil, sandstep.Wrap(err, sandstep.ECONFLICT, "the task's sandbox was being %s while its command ran", sb.DesiredState)
	case gerr == nil && daytona.IsNotFound(err):
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "the task's command is gone from its running sandbox")
	case gerr != nil:
		return nil, classify("look at the task's sandbox", gerr)
	}
	var ae *daytona.APIError
	if errors.As(err, &ae) && ae.StatusCode >= 500 {
		// A read of a running sandbox's command, safe to make again: a
		// toolbox's 500 is asked again (the watch's Check retries
		// Sandbox.Transient), not taken for the task's failure, which
		// killed a command that ran on unharmed. A lasting one still
		// fails the task once the retries are spent.
		return nil, sandstep.Wrap(err, sandstep.ETRANSIENT, "look at the task's command: Daytona's toolbox answered %d; try again", ae.StatusCode)
	}
	return nil, classify("look at the task's command", err)
}

// StopCommand deletes the session, which kills its commands. A session or
// sandbox that is gone is no error, nor is a sandbox that is not running:
// its processes ended when it stopped, and its toolbox cannot be reached.
func (p *Provider) StopCommand(ctx context.Context, id, sid string) error {
	err := p.c.DeleteSession(ctx, id, sid)
	if err == nil || daytona.IsNotFound(err) {
		return nil
	}
	if sb, gerr := p.c.GetSandbox(ctx, id); daytona.IsNotFound(gerr) || (gerr == nil && sb.State != daytona.StateStarted) {
		return nil
	}
	var ae *daytona.APIError
	if errors.As(err, &ae) && ae.StatusCode >= 500 {
		// A session's delete is safe to ask again: a toolbox's 500 is
		// transient, so the Check that kills a command at its deadline
		// is retried rather than failing a task that was to time out.
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "stop the task's command: Daytona's toolbox answered %d; try again", ae.StatusCode)
	}
	return p.toolboxError(ctx, "stop the task's command", id, err)
}

// KeepFor re-anchors the sandbox's hard lifetime to now plus d.
func (p *Provider) KeepFor(ctx context.Context, id string, d time.Duration) error {
	minutes := int((d + time.Minute - 1) / time.Minute)
	if err := p.c.SetTTL(ctx, id, max(minutes, 1)); err != nil {
		return classify("set the sandbox's lifetime", err)
	}
	return nil
}

// Download returns a file's bytes, at most max of them.
func (p *Provider) Download(ctx context.Context, id, path string, max int64) ([]byte, error) {
	var c *capped
	err := p.onStarted(ctx, "download "+path, id, func() error {
		c = &capped{w: new(bytes.Buffer), left: max}
		_, err := p.c.DownloadFile(ctx, id, path, c)
		var ae *daytona.APIError
		switch {
		case errors.Is(err, errTooLarge):
			return sandstep.Invalid("artifacts", "%s is larger than %d bytes", path, max)
		case errors.As(err, &ae) && ae.StatusCode == 404 && !ae.FromProxy():
			// A 404 naming neither source nor code may be the proxy's for
			// a sandbox that is not running (an archived one's, #4632):
			// the sandbox's state tells, as for any toolbox failure.
			if ae.Source == "" && ae.Code == "" && !p.running(ctx, id) {
				return err
			}
			// The daemon's word: the file is not there.
			return sandstep.Wrap(err, sandstep.ENOTFOUND, "%s does not exist in the sandbox", path)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.w.Bytes(), nil
}

var errTooLarge = errors.New("over the size limit")

// running says whether Daytona shows the sandbox started and staying so;
// false too when its state could not be read.
func (p *Provider) running(ctx context.Context, id string) bool {
	gctx, cancel := p.cleanupContext(ctx)
	defer cancel()
	sb, err := p.c.GetSandbox(gctx, id)
	return err == nil && sb.State == daytona.StateStarted && !leaving(sb)
}

// capped passes at most left bytes to w.
type capped struct {
	w    *bytes.Buffer
	left int64
}

// Size makes room for the file the answer announces, at once: an artifact
// (up to 100 MB) read into a buffer that doubles took 2.5 times its size,
// and two of them the execute function's memory. One over the limit is
// refused unread.
func (c *capped) Size(n int64) error {
	if n > c.left {
		return errTooLarge
	}
	// Before the first write: one make (Grow's append of a make
	// allocates twice under the race detector).
	c.w = bytes.NewBuffer(make([]byte, 0, n))
	return nil
}

func (c *capped) Write(b []byte) (int, error) {
	if int64(len(b)) > c.left {
		return 0, errTooLarge
	}
	c.left -= int64(len(b))
	return c.w.Write(b)
}
