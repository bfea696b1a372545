// Command reaper is sandstep's ReaperFunction: on a schedule it finds what
// failures left behind (sandboxes without a live record, held slots,
// half-done deletes, tasks whose execution ended) and ends it (see
// internal/service's Reap).
package main

import (
	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/app"
)

func main() { app.Main(app.Lifecycle(api.FunctionReaper)) }
