// Command github is sandstep's GitHubFunction: it receives GitHub's webhook
// deliveries and starts or cancels the tasks issues ask for (see
// internal/api and internal/webhook).
package main

import (
	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/app"
)

func main() { app.Main(app.Lifecycle(api.FunctionGitHub)) }
