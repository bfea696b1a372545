package cost

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestDollars(t *testing.T) {
	tests := []struct {
		name  string
		nanos int64
		want  string
	}{
		{"zero", 0, "0.000000000"},
		{"ten micro-dollars, never 1e-05", 10_000, "0.000010000"},
		{"one nano-dollar", 1, "0.000000001"},
		{"dollars and change", 12_345_678_901, "12.345678901"},
		{"negative", -1_500_000_000, "-1.500000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Dollars(tt.nanos); got != tt.want {
				t.Errorf("Dollars(%d) = %q, want %q", tt.nanos, got, tt.want)
			}
		})
	}
}

func TestShown(t *testing.T) {
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(90*time.Second + 250*time.Millisecond)
	now := from.Add(10 * time.Minute)
	tests := []struct {
		name                     string
		u                        sandstep.TaskUsage
		sandbox, lambda, lambdaG float64
	}{
		{"no sandbox yet", sandstep.TaskUsage{LambdaMs: 1500, LambdaMBMs: 1500 * 512}, 0, 1.5, 0.75},
		{"a sandbox alive: until now", sandstep.TaskUsage{SandboxFrom: &from}, 600, 0, 0},
		{"a sandbox deleted", sandstep.TaskUsage{SandboxFrom: &from, SandboxTo: &to}, 90.25, 0, 0},
		{"an end before the start counts nothing", sandstep.TaskUsage{SandboxFrom: &to, SandboxTo: &from}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Shown(&tt.u, now)
			if got.SandboxSeconds != tt.sandbox || got.LambdaSeconds != tt.lambda || got.LambdaGBSeconds != tt.lambdaG {
				t.Errorf("Shown = sandbox %v, lambda %v, GB-s %v; want %v, %v, %v",
					got.SandboxSeconds, got.LambdaSeconds, got.LambdaGBSeconds, tt.sandbox, tt.lambda, tt.lambdaG)
			}
		})
	}
	if Shown(nil, now) != nil {
		t.Error("no usage shows as none")
	}
}

func TestEstimate(t *testing.T) {
	prices := func(doc string) *Table {
		tb, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	tests := []struct {
		name  string
		u     sandstep.TaskUsage
		table *Table
		want  sandstep.TaskCost
	}{
		{"nothing used costs nothing", sandstep.TaskUsage{}, Defaults(), sandstep.TaskCost{
			USD: "0.000000000", Sandbox: "0.000000000", Lambda: "0.000000000", StepFunctions: "0.000000000",
			DynamoDB: "0.000000000", S3: "0.000000000", Prices: "default"}},
		// 60 s × (2 × 14 + 4 × 4.5 + 10 × 0.03) µ$ = 2778 µ$; 2 GB-s × 13.3334 µ$
		// + 6 × 0.2 µ$; 9 × 25 µ$; 8 × 0.625 + 20 × 0.125 µ$; 3 × 5 + 4 × 0.4 µ$.
		{"a minute's task at the default prices", sandstep.TaskUsage{
			VCPU: 2, MemoryGiB: 4, DiskGiB: 10, SandboxSeconds: 60,
			LambdaInvocations: 6, LambdaGBSeconds: 2, StateTransitions: 9,
			DynamoDBWriteUnits: 8, DynamoDBReadUnits: 20, S3PutRequests: 3, S3GetRequests: 4,
		}, Defaults(), sandstep.TaskCost{
			USD: "0.003054967", Sandbox: "0.002778000", Lambda: "0.000027867", StepFunctions: "0.000225000",
			DynamoDB: "0.000007500", S3: "0.000016600", Prices: "default"}},
		{"the deployment's prices", sandstep.TaskUsage{VCPU: 1, MemoryGiB: 1, DiskGiB: 3, SandboxSeconds: 10, StateTransitions: 4},
			prices(`{"daytona": {"vcpuSecond": 0.0001, "memoryGiBSecond": 0, "diskGiBSecond": 0}, "stepFunctions": {"transition": 0}}`),
			sandstep.TaskCost{USD: "0.001000000", Sandbox: "0.001000000", Lambda: "0.000000000", StepFunctions: "0.000000000",
				DynamoDB: "0.000000000", S3: "0.000000000", Prices: "PRICE_TABLE_REF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Estimate(&tt.u, tt.table)
			if *got != tt.want {
				t.Errorf("Estimate =\n%+v, want\n%+v", *got, tt.want)
			}
		})
	}
}

// The JSON a reader gets never writes an amount or a count in exponent
// form.
func TestShownJSONHasNoExponents(t *testing.T) {
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(time.Millisecond)
	u := Shown(&sandstep.TaskUsage{VCPU: 1, SandboxFrom: &from, SandboxTo: &to, LambdaMs: 1, LambdaMBMs: 1}, to)
	body, err := json.Marshal(struct {
		*sandstep.TaskUsage
		Cost *sandstep.TaskCost `json:"cost"`
	}{u, Estimate(u, Defaults())})
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`[0-9][eE][-+]?[0-9]`).Match(body) {
		t.Errorf("%s has a number in exponent form", body)
	}
}
