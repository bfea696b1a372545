package githubapp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/sandstep/sandstep/internal/githubapp"
)

func ExampleNew() {
	// The tests' GitHub stands in for https://api.github.com.
	apiURL, appID, key, stop := githubapp.StartFakeGitHub()
	defer stop()
	ctx := context.Background()
	const repo = "octo-org/hello.world"

	// One client per process: its token cache serves every call. The key
	// is the PEM the caller resolved from GITHUB_APP_KEY_REF.
	gh, err := githubapp.New(githubapp.Config{
		BaseURL: apiURL, AppID: appID, PrivateKey: key,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	})
	if err != nil {
		log.Fatal(err)
	}

	// A webhook names the repository; its installation is asked as the App.
	inst, err := gh.Installation(ctx, repo)
	if err != nil {
		log.Fatal(err)
	}
	// A comment command counts only from someone who may write.
	perm, err := gh.Permission(ctx, inst, repo, "wu")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(perm, githubapp.CanTrigger(perm))

	// The agent's clone gets a read-only token of the one repository.
	tok, err := gh.Token(ctx, inst, repo, githubapp.ReadContents)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(time.Until(tok.ExpiresAt) > githubapp.MinTokenLife)

	// One comment, edited as the task goes on.
	id, err := gh.UpsertComment(ctx, inst, repo, 3, 0, "sandstep: queued")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := gh.UpsertComment(ctx, inst, repo, 3, id, "sandstep: done"); err != nil {
		log.Fatal(err)
	}

	// After sandstep pushed sandstep/<taskId>, the pull request.
	base, err := gh.DefaultBranch(ctx, inst, repo)
	if err != nil {
		log.Fatal(err)
	}
	n, url, err := gh.OpenPullRequest(ctx, inst, repo, "sandstep/tsk_1", base, "Fix #3", "Closes #3")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, url)
	// Output:
	// write true
	// true
	// 1 https://github.com/octo-org/hello.world/pull/1
}
