package cost

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Daytona's size of a sandbox whose create names no resources: 1 vCPU,
// 1 GiB of memory, 3 GiB of disk (docs/performance.md, "Task cost").
const (
	DefaultVCPU      = 1
	DefaultMemoryGiB = 1
	DefaultDiskGiB   = 3
)

// Size is the usage's sandbox size: each of its resources from the first
// of sizes (what Daytona said it gave, what the create asked for; nil:
// not known) that has it, else Daytona's default.
func Size(sizes ...*sandstep.Resources) (vcpu, memoryGiB, diskGiB int) {
	vcpu, memoryGiB, diskGiB = DefaultVCPU, DefaultMemoryGiB, DefaultDiskGiB
	for _, r := range slices.Backward(sizes) {
		if r != nil {
			vcpu, memoryGiB, diskGiB = nonZero(r.CPU, vcpu), nonZero(r.MemoryGiB, memoryGiB), nonZero(r.DiskGiB, diskGiB)
		}
	}
	return vcpu, memoryGiB, diskGiB
}

func nonZero(v, deflt int) int {
	if v > 0 {
		return v
	}
	return deflt
}

// Shown returns a copy of u with the fields a reader sees worked out: a
// sandbox still alive counts until now. nil stays nil.
func Shown(u *sandstep.TaskUsage, now time.Time) *sandstep.TaskUsage {
	if u == nil {
		return nil
	}
	c := *u
	var ms int64
	if c.SandboxFrom != nil {
		to := now
		if c.SandboxTo != nil {
			to = *c.SandboxTo
		}
		ms += max(to.Sub(*c.SandboxFrom), 0).Milliseconds()
	}
	c.SandboxSeconds = millis(ms)
	c.LambdaSeconds = millis(c.LambdaMs)
	c.LambdaGBSeconds = millis(c.LambdaMBMs / 1024)
	return &c
}

// millis is n milliseconds in seconds; JSON shows it with at most three
// places, never in exponent form.
func millis(n int64) float64 { return float64(n) / 1000 }

// Estimate prices u (as Shown returns it) by t. Each part is rounded to
// the nano-dollar, and the total is their sum.
func Estimate(u *sandstep.TaskUsage, t *Table) *sandstep.TaskCost {
	if u == nil {
		return nil
	}
	t.prices() // a null field keeps its default
	sandbox := u.SandboxSeconds * (float64(u.VCPU)**t.Daytona.VCPUSecond +
		float64(u.MemoryGiB)**t.Daytona.MemoryGiBSecond + float64(u.DiskGiB)**t.Daytona.DiskGiBSecond)
	lambda := u.LambdaGBSeconds**t.Lambda.GBSecond + float64(u.LambdaInvocations)**t.Lambda.Request
	sfn := float64(u.StateTransitions) * *t.StepFunctions.Transition
	ddb := float64(u.DynamoDBWriteUnits)**t.DynamoDB.WriteUnit + float64(u.DynamoDBReadUnits)**t.DynamoDB.ReadUnit
	s3 := float64(u.S3PutRequests)**t.S3.Put + float64(u.S3GetRequests)**t.S3.Get
	parts := []int64{nanos(sandbox), nanos(lambda), nanos(sfn), nanos(ddb), nanos(s3)}
	var total int64
	for _, p := range parts {
		total += p
	}
	return &sandstep.TaskCost{
		USD: Dollars(total), Sandbox: Dollars(parts[0]), Lambda: Dollars(parts[1]),
		StepFunctions: Dollars(parts[2]), DynamoDB: Dollars(parts[3]), S3: Dollars(parts[4]),
		Prices: t.Source,
	}
}

func nanos(usd float64) int64 { return int64(math.Round(usd * 1e9)) }

// Dollars writes nano-dollars as a decimal string of dollars with nine
// places: 1250 is "0.000001250".
func Dollars(nanos int64) string {
	sign := ""
	if nanos < 0 {
		sign, nanos = "-", -nanos
	}
	return fmt.Sprintf("%s%d.%09d", sign, nanos/1e9, nanos%1e9)
}
