// Package store is sandstep's DynamoDB persistence: one table holding
// sandboxes, tasks, quota slots, idempotency records, audit events and task
// logs (docs/architecture.md, "Data model").
//
// Every invariant is enforced by DynamoDB itself, with condition expressions
// and TransactWriteItems, so any number of Lambda instances may share a table:
//
//   - a quota slot is a reservation: ReserveSlot writes the sandbox's record
//     in state creating, takes a slot (item USER#<u>/SLOT#<sandbox>) and
//     increments the user's counter (item USER#<u>/QUOTA) in one
//     transaction conditioned on the counter being below the user's limit,
//     so a process that dies before the commit leaves a record naming its
//     slot; CommitSandbox moves the record to ready and marks the slot
//     committed in one transaction; ReleaseSlot turns the slot into a
//     tombstone and decrements the counter in one transaction, so a slot is
//     freed once and the counter never goes below zero;
//   - records are created with attribute_not_exists and changed with
//     optimistic concurrency on a hidden version attribute;
//   - idempotency records follow Powertools for AWS Lambda (in progress with an
//     expiry, completed with a stored response, expired);
//   - audit events and log chunks are only ever created, never rewritten.
//
// Every error returned is, or wraps, a *sandstep.Error: bad input is EINVALID
// (or ETOOLARGE) naming the field, a failed condition is ECONFLICT (EQUOTA for
// the quota condition), throttling and 5xx are ETRANSIENT, anything else is
// EINTERNAL with the DynamoDB error kept as the cause.
package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Options configures a Store.
type Options struct {
	// DefaultQuota is the number of sandboxes a user may hold at once when no
	// per-user override is set. It must be at least 1.
	DefaultQuota int
	// RepoQuota replaces DefaultQuota for repositories' users (ids with
	// sandstep.RepoUserPrefix: issues' tasks, GITHUB_REPO_QUOTA); 0 leaves
	// them DefaultQuota. A per-user override wins over both.
	RepoQuota int
	// IdempotencyTTL is how long an idempotency record is remembered once
	// its attempt has ended (config's IDEMPOTENCY_TTL); a repository's
	// records, GitHub's deliveries, are kept DeliveryRetention at least.
	// It must be positive.
	IdempotencyTTL time.Duration
	// CreateRate is how many sandboxes every instance of the deployment
	// together may create per CreateWindow (the provider's sandbox-create
	// limit, DAYTONA_CREATE_RATE); 0: no limit. A reservation takes one in
	// its own transaction, so the budget costs no round trip.
	CreateRate int
	// CreateWindow is the rate's window, aligned to multiples of itself
	// since the Unix epoch; 0 means a minute.
	CreateWindow time.Duration
	// TaskRetention is how long a task's record is kept once it has ended
	// (config's TASK_RETENTION_DAYS); 0 keeps it for ever.
	TaskRetention time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Store is the DynamoDB single-table store. It is safe for concurrent use.
type Store struct {
	db             *dynamo.Client
	table          string
	defaultQuota   int
	repoQuota      int
	createRate     int
	createWindow   time.Duration
	idempotencyTTL time.Duration
	taskRetention  time.Duration
	now            func() time.Time

	// spentSeen is the create window (its start, unix ms) this Store last
	// saw refuse a create.
	spentSeen atomic.Int64
	// holdsBegun counts this Store's takes of a create beside a slot, and
	// holding those not yet settled (kept or given back): while one is,
	// a refusal by the window may be passing (see passingHold).
	holdsBegun atomic.Uint64
	holding    atomic.Int32

	// instance and counter make audit sort keys unique without a read.
	instance string
	counter  atomic.Uint64
}

// New returns a Store on table, using client for every call.
func New(client *dynamo.Client, table string, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("store: nil DynamoDB client")
	}
	if table == "" {
		return nil, sandstep.Invalid("table", "table name must not be empty")
	}
	if opts.DefaultQuota < 1 {
		return nil, sandstep.Invalid("DefaultQuota", "must be at least 1, got %d", opts.DefaultQuota)
	}
	if opts.RepoQuota < 0 {
		return nil, sandstep.Invalid("RepoQuota", "must not be negative, got %d", opts.RepoQuota)
	}
	if opts.CreateRate < 0 {
		return nil, sandstep.Invalid("CreateRate", "must not be negative, got %d", opts.CreateRate)
	}
	if opts.CreateWindow <= 0 {
		opts.CreateWindow = time.Minute
	}
	if opts.IdempotencyTTL <= 0 {
		return nil, sandstep.Invalid("IdempotencyTTL", "must be positive, got %s", opts.IdempotencyTTL)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// Uniqueness, not secrecy: math/rand's generator is seeded at start,
	// where crypto/rand's first read costs a cold start a system call and
	// its generator's setup.
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], rand.Uint32())
	return &Store{
		db:             client,
		table:          table,
		defaultQuota:   opts.DefaultQuota,
		repoQuota:      opts.RepoQuota,
		createRate:     opts.CreateRate,
		createWindow:   opts.CreateWindow,
		idempotencyTTL: opts.IdempotencyTTL,
		taskRetention:  opts.TaskRetention,
		now:            now,
		instance:       hex.EncodeToString(b[:]),
	}, nil
}

// Attribute names and key prefixes of the single-table design.
const (
	attrPK     = "PK"
	attrSK     = "SK"
	attrGSI1PK = "GSI1PK"
	attrGSI1SK = "GSI1SK"
	// attrType names the kind of item ("sandbox", "task", ...), for humans
	// reading the table and for the reaper's scans.
	attrType = "type"
	// attrVersion is the optimistic-concurrency counter of sandbox and task
	// records. It is not part of the domain types.
	attrVersion = "ver"
	// attrState is a record's state (sandstep.Sandbox.State).
	attrState = "state"

	// TTLAttribute is the table's time-to-live attribute: a Number holding
	// Unix seconds. The store never relies on DynamoDB having deleted an
	// expired item (deletion can lag by days, and minidyn has no TTL): every
	// read that cares checks the time itself.
	TTLAttribute = "expiresAt"

	// GSI1 lists a user's sandboxes and tasks newest first.
	GSI1 = "GSI1"

	// LiveIndex holds only what the reaper reads (live records, counters,
	// the deployment item; see liveFilter), so that a run reads what is
	// live and not the history. Its partition is one of liveShards values
	// (liveShard), so that no one index partition takes every write of a
	// busy deployment; its sort key is the item's PK.
	LiveIndex  = "Live"
	attrLivePK = "LivePK"
	prefixLive = "LIVE#"
	liveShards = 4 // LiveIndex's partitions

	skMeta  = "META"
	skQuota = "QUOTA"
	skIdem  = "IDEM"

	prefixSandbox = "SBX#"
	prefixTask    = "TASK#"
	prefixUser    = "USER#"
	prefixSlot    = "SLOT#"
	prefixIdem    = "IDEM#"
	prefixEvent   = "EVT#"

	typeSandbox = "sandbox"
	typeTask    = "task"
	typeQuota   = "quota"
	typeSlot    = "slot"
	typeIdem    = "idempotency"
	typeEvent   = "audit"
)

// sortTimeLayout is a fixed-width UTC layout: unlike RFC3339Nano it keeps
// trailing zeros, so sort keys built from it order as the times do.
const sortTimeLayout = "2006-01-02T15:04:05.000000000Z"

func sortTime(t time.Time) string { return t.UTC().Format(sortTimeLayout) }

func sandboxPK(id string) string     { return prefixSandbox + id }
func taskPK(id string) string        { return prefixTask + id }
func userPK(id string) string        { return prefixUser + id }
func idemPK(user, key string) string { return prefixIdem + user + "#" + key }

// ownerGSI1PK is the GSI1 partition of a user's items of one kind, so that
// sandboxes and tasks list separately.
func ownerGSI1PK(owner, kind string) string { return prefixUser + owner + "#" + kind }

const (
	gsiKindSandbox = "SBX"
	gsiKindTask    = "TASK"
)

func createdGSI1SK(created time.Time, id string) string { return sortTime(created) + "#" + id }

// LiveKey is the LiveIndex key attribute, and its value, of a live item
// with partition key pk. The local DynamoDB's TTL sweep gives it to an item
// before deleting it: minidyn keeps an index entry for an item whose key a
// put removed, and deleting the item without the key leaves the entry
// behind, which then hides other items from the index.
func LiveKey(pk string) (attr, value string) { return attrLivePK, liveShard(pk) }

// markLive gives a live item its LiveIndex key, from its PK.
func markLive(item map[string]types.AttributeValue) {
	item[attrLivePK] = str(liveShard(avS(item[attrPK])))
}

// markedLive says whether item carries its LiveIndex key.
func markedLive(item map[string]types.AttributeValue) bool {
	return avS(item[attrLivePK]) == liveShard(avS(item[attrPK]))
}

// liveShard is the LiveIndex partition of the item with partition key pk.
func liveShard(pk string) string {
	h := fnv.New32a()
	h.Write([]byte(pk))
	return prefixLive + strconv.Itoa(int(h.Sum32()%liveShards))
}

func (s *Store) nowUTC() time.Time { return s.now().UTC() }
