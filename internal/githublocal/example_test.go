package githublocal_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"

	"github.com/google/go-github/v88/github"

	"github.com/sandstep/sandstep/internal/githubapp"
	"github.com/sandstep/sandstep/internal/githublocal"
)

// A test's GitHub: an App installed on an organisation with one private
// repository, reached the way sandstep reaches GitHub — an installation
// token minted with the App's key, then the REST API with that token.
func Example() {
	dir, _ := os.MkdirTemp("", "githublocal-example-")
	defer os.RemoveAll(dir)
	gh, err := githublocal.New(githublocal.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer gh.Close()
	srv := httptest.NewServer(gh)
	defer srv.Close()

	key, pub, _ := githublocal.GenerateAppKey()
	_ = gh.AddApp(githublocal.App{ID: 1, Slug: "sandstep", PublicKey: pub})
	_, _ = gh.CreateRepository(githublocal.Repository{Owner: "acme", Name: "hello", Private: true})
	_ = gh.AddInstallation(githublocal.Installation{ID: 10, AppID: 1, Account: "acme"})
	issue, _ := gh.CreateIssue("acme/hello", "Say hello", "", "alice")

	// The App's side: sandstep's App client signs the JWT and mints a
	// token for the repository, which go-github then uses.
	app, _ := githubapp.New(githubapp.Config{BaseURL: srv.URL, AppID: 1, PrivateKey: key})
	ctx := context.Background()
	tok, err := app.Token(ctx, 10, "acme/hello", githubapp.Permissions{Issues: githubapp.Write})
	if err != nil {
		panic(err)
	}
	base := srv.URL + "/"
	client, _ := github.NewClient(github.WithAuthToken(tok.Value), github.WithURLs(&base, &base))

	repo, _, err := client.Repositories.Get(ctx, "acme", "hello")
	if err != nil {
		panic(err)
	}
	fmt.Println(repo.GetFullName(), repo.GetDefaultBranch(), repo.GetVisibility())
	if _, _, err := client.Issues.CreateComment(ctx, "acme", "hello", issue, &github.IssueComment{Body: github.Ptr("On it.")}); err != nil {
		panic(err)
	}

	// The test's side: what GitHub now holds.
	comments, _ := gh.Comments("acme/hello", issue)
	fmt.Printf("%s: %s\n", comments[0].User, comments[0].Body)
	// The same token clones over git's smart HTTP:
	// git clone http://x-access-token:<token>@<srv>/acme/hello.git
	// Output:
	// acme/hello main private
	// sandstep[bot]: On it.
}
