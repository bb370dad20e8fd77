package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/sqlstore"
)

// The audit journal is where a vend's audit record becomes durable: the
// records of one AppendAudit are chained after the trail's head, appended
// to the file DB-audit in one write and flushed with one fdatasync, which
// is all a lone vend waits for. A background step moves them into the
// audit table (one transaction for many records) and empties the journal;
// so does every read of the trail first, every write that appends audit
// records in a transaction of its own (admin changes), opening the store
// and closing it. A record is in exactly one of the two places the
// moment it is acknowledged, and the hash chain runs across both.
//
// Several processes may open one database (a broker and the CLI on its
// host): every operation on the journal holds an exclusive flock(2) on
// it, and a process that finds the journal changed by another since it
// last held the lock (another generation in the header, another length)
// moves its records into the table and reads the head again before it
// appends.
//
// The file is a header (magic, then a random generation that each
// emptying renews) and entries, each the length and CRC-32C of its
// payload, then the payload: one record as JSON. A torn tail (a crash in
// the middle of an append, which was never acknowledged) fails its
// length or checksum and is dropped; a complete entry that does not
// continue the trail stops the move with an error, and nothing is lost.

const (
	journalMagic  = "CBAUDJ01"
	journalHeader = len(journalMagic) + 8
	// journalEntryHead is an entry's length and checksum.
	journalEntryHead = 8
	// maxJournalEntry bounds one record's JSON; a record is a few KB.
	maxJournalEntry = 1 << 20
	// journalFlushEvery is how often the background step moves records
	// into the table, and journalFlushAt how many pending records make it
	// move them at once.
	journalFlushEvery = 100 * time.Millisecond
	journalFlushAt    = 4096
	// journalCompactAt is the journal's size past which the background
	// step moves the rest under the lock and empties the file, which it
	// otherwise does only when it finds everything moved.
	journalCompactAt = 16 << 20
	// journalMoveChunk is the most records one transaction of a move
	// takes.
	journalMoveChunk = 512
	// journalMaxBatch is the most records an append puts in the journal:
	// a larger group (many vends at once, committed together) goes to the
	// table in one transaction, whose one flush it shares, as the journal
	// would only add a second write of each record.
	journalMaxBatch = 4
	// journalChunk is how much the file grows at a time, by zeros.
	journalChunk = 4 << 20
	// journalFlushTimeout bounds one background move.
	journalFlushTimeout = 30 * time.Second
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journal is the audit journal of one open store.
type journal struct {
	path string
	f    *os.File
	core *sqlstore.Store
	sync bool // fdatasync each append (synchronous=full)

	mu sync.Mutex // serialises this process's use of the file
	// moveMu serialises this process's moves into the table; the
	// background step holds it, not mu, while it inserts.
	moveMu sync.Mutex
	// What this process knows of the file, valid while gen and the
	// length match it: the generation, the end, the head of the trail
	// (the last journal record, or the table's head) and the records the
	// journal holds.
	known bool
	gen   uint64
	end   int64
	size  int64 // the file's length: zeros (or old entries) after end
	moved int64 // the journal before it is in the table already
	// headStale: a transaction of this process appended to the table
	// (Enter) while the journal was empty; seq and hash are to be read
	// from the table again.
	headStale bool
	seq       int64
	hash      string
	pending   int
	// moveErr is the last move's failure: while the table refuses the
	// journal's records, appends are refused too (after one more try),
	// so that no more than a background round's worth waits.
	moveErr error

	running bool // the background step runs
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// newJournal opens (or creates) the journal of the database at abs. It
// is started, with the store it moves records into, by start.
func newJournal(abs string, syncEach bool) (*journal, error) {
	path := abs + "-audit"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "", "store is not writable: cannot open the audit journal %s", path).WithCause(err)
	}
	return &journal{path: path, f: f, sync: syncEach,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// start moves what a previous run left in the journal into core's table
// and starts the background step.
func (j *journal) start(ctx context.Context, core *sqlstore.Store) error {
	j.mu.Lock()
	j.core = core
	j.mu.Unlock()
	if err := j.move(ctx); err != nil {
		return err
	}
	j.mu.Lock()
	j.running = true
	j.mu.Unlock()
	go j.background()
	return nil
}

// locked runs fn holding the process's mutex and the file's flock.
func (j *journal) locked(ctx context.Context, fn func() error) error {
	if err := j.acquire(); err != nil {
		return err
	}
	defer j.release()
	return fn()
}

// acquire takes the process's mutex and the file's flock; on failure it
// holds neither.
func (j *journal) acquire() error {
	j.mu.Lock()
	if j.f == nil || j.core == nil {
		j.mu.Unlock()
		return credbroker.Errorf(credbroker.CodeUnavailable, "audit", "store is unavailable: it is closed")
	}
	if err := lockFile(j.f); err != nil {
		j.mu.Unlock()
		return j.fail("lock", err)
	}
	return nil
}

// release lets acquire's locks go.
func (j *journal) release() {
	unlockFile(j.f)
	j.mu.Unlock()
}

// fail wraps an error of the journal file; the vend it serves is refused.
func (j *journal) fail(what string, err error) error {
	var ce *credbroker.Error
	if errors.As(err, &ce) {
		return err
	}
	return credbroker.Errorf(credbroker.CodeUnavailable, "audit", "store is unavailable: the audit journal cannot %s", what).
		WithFix("check the disk of the data directory (space, permissions, a read-only mount)").
		WithCause(fmt.Errorf("%s: %w", j.path, err))
}

// current reports whether the file is as this process left it.
func (j *journal) current() (bool, error) {
	// Every process that finds the journal changed by another moves it
	// and renews the generation before it appends, so the generation
	// alone tells whether the file is still as this process left it.
	if !j.known {
		return false, nil
	}
	var h [journalHeader]byte
	if _, err := j.f.ReadAt(h[:], 0); err != nil {
		return false, err
	}
	return string(h[:len(journalMagic)]) == journalMagic && binary.BigEndian.Uint64(h[len(journalMagic):]) == j.gen, nil
}

// append chains recs after the head and makes them durable in the
// journal. On failure they are unchained and the journal is as before.
func (j *journal) append(ctx context.Context, recs []*credbroker.AuditRecord) error {
	err := j.appendOnce(ctx, recs, false)
	if errors.Is(err, errSlowPath) {
		// The journal must be moved first, which no other move of this
		// process may overlap.
		j.moveMu.Lock()
		err = j.appendOnce(ctx, recs, true)
		j.moveMu.Unlock()
	}
	if err != nil {
		for _, r := range recs {
			r.Seq, r.PrevHash, r.Hash = 0, "", ""
		}
	}
	return err
}

// errSlowPath says an append must move the journal first.
var errSlowPath = errors.New("the journal must be moved first")

func (j *journal) appendOnce(ctx context.Context, recs []*credbroker.AuditRecord, slow bool) error {
	full := false
	err := j.locked(ctx, func() error {
		ok, err := j.current()
		if err != nil {
			return j.fail("be read", err)
		}
		if !ok || j.moveErr != nil {
			if !slow {
				return errSlowPath
			}
			if err := j.moveLocked(ctx); err != nil {
				return err
			}
		}
		if j.headStale {
			if j.seq, j.hash, err = j.core.AuditHead(ctx); err != nil {
				return err
			}
			j.headStale = false
		}
		seq, hash := j.seq, j.hash
		var buf []byte
		for _, r := range recs {
			r.Chain(seq, hash)
			seq, hash = r.Seq, r.Hash
			payload, err := json.Marshal(r)
			if err != nil {
				return credbroker.Errorf(credbroker.CodeInternal, "audit", "an audit record cannot be encoded").WithCause(err)
			}
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
			buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(payload, crcTable))
			buf = append(buf, payload...)
		}
		if j.end+int64(len(buf))+journalEntryHead > j.size {
			if err := j.grow(int64(len(buf))); err != nil {
				return err
			}
		}
		if _, err := j.f.WriteAt(buf, j.end); err != nil {
			j.undo()
			return j.fail("be written", err)
		}
		if j.sync {
			if err := fdatasync(j.f); err != nil {
				j.undo()
				return j.fail("be flushed to the disk", err)
			}
		}
		j.end += int64(len(buf))
		j.seq, j.hash = seq, hash
		j.pending += len(recs)
		full = j.pending >= journalFlushAt
		return nil
	})
	if err != nil {
		return err
	}
	if full {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// undo marks the end of the journal again after a failed append (zeros
// where its first entry's length was), so that no record of a refused
// vend is read back; when even that fails, the next use reads the file
// again.
func (j *journal) undo() {
	var zero [journalEntryHead]byte
	if _, err := j.f.WriteAt(zero[:], j.end); err != nil {
		j.known = false
	}
}

// grow extends the file by zeros for at least n more bytes of entries
// (journalChunk at a time) and flushes it, length included: appends then
// overwrite blocks the file has already, and their fdatasync has no
// metadata to write.
func (j *journal) grow(n int64) error {
	add := max(journalChunk, n+journalEntryHead)
	if _, err := j.f.WriteAt(make([]byte, add), j.size); err != nil {
		return j.fail("grow (is the disk full?)", err)
	}
	if err := j.f.Sync(); err != nil {
		return j.fail("be flushed to the disk", err)
	}
	j.size += add
	return nil
}

// moveLocked moves the journal's records into the table, empties the
// journal under a new generation and reads the head. The flock is held.
// A failure is kept in moveErr until a move succeeds.
func (j *journal) moveLocked(ctx context.Context) error {
	j.moveErr = j.moveInto(ctx)
	return j.moveErr
}

// unmoved returns the journal's records that are not in the table yet,
// and the table's head. A journal as this process left it is read from
// where the background step stopped; any other in full. The flock is
// held.
func (j *journal) unmoved(ctx context.Context) (recs []*credbroker.AuditRecord, seq int64, hash string, err error) {
	ok, err := j.current()
	if err == nil && ok {
		recs, err = j.readRange(j.moved, j.end)
	} else {
		recs, err = j.read()
	}
	if err != nil {
		return nil, 0, "", err
	}
	if seq, hash, err = j.core.AuditHead(ctx); err != nil {
		return nil, 0, "", err
	}
	rest := recs[:0]
	for _, r := range recs {
		if r.Seq > seq {
			rest = append(rest, r)
		}
	}
	return rest, seq, hash, nil
}

// insert stores records of the journal in the table, journalMoveChunk
// to a transaction, in order; on failure the chunks before stay stored.
func (j *journal) insert(ctx context.Context, recs []*credbroker.AuditRecord) error {
	for len(recs) > 0 {
		n := min(len(recs), journalMoveChunk)
		if err := j.core.AppendChained(ctx, recs[:n]...); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

func (j *journal) moveInto(ctx context.Context) error {
	if ok, err := j.current(); err == nil && ok && j.end == int64(journalHeader) {
		return nil // empty, and the head known
	}
	var seq int64
	var hash string
	// Records at or before the table's head were moved already (a crash
	// between the move and the emptying, or another process's background
	// step moving them meanwhile); the rest must continue it. A conflict
	// is tried again from the new head, twice, before it counts as a
	// journal that does not continue the trail.
	for try := 0; ; try++ {
		rest, headSeq, headHash, err := j.unmoved(ctx)
		if err != nil {
			return err
		}
		if err = j.insert(ctx, rest); err == nil {
			seq, hash = headSeq, headHash
			if len(rest) > 0 {
				seq, hash = rest[len(rest)-1].Seq, rest[len(rest)-1].Hash
			}
			break
		}
		if credbroker.ErrorCode(err) != credbroker.CodeConflict {
			return err
		}
		if try == 2 {
			return credbroker.Errorf(credbroker.CodeUnavailable, "audit",
				"store is unavailable: the audit journal %s holds records that do not continue the audit trail", j.path).
				WithFix("keep the file and the database for inspection; credbroker audit verify shows the trail").WithCause(err)
		}
	}
	var h [journalHeader]byte
	copy(h[:], journalMagic)
	if _, err := rand.Read(h[len(journalMagic):]); err != nil {
		return j.fail("be renewed", err)
	}
	// Emptying writes the new generation and an end mark (zeros) where
	// the first entry was, in place: the file keeps its blocks (see
	// grow), and what follows the mark is never read as entries of this
	// generation. It is not flushed: should a crash undo it, the records
	// come back and are skipped, being in the table already (Seq at or
	// before its head). What lies after the entries of a generation is
	// zeros or entries of earlier ones, which are in the table too.
	st, err := j.f.Stat()
	if err != nil {
		j.known = false
		return j.fail("be read", err)
	}
	j.size = st.Size()
	if j.size > journalCompactAt+journalChunk {
		// Grown under a long backlog: give the space back.
		if err := j.f.Truncate(int64(journalHeader)); err != nil {
			j.known = false
			return j.fail("be emptied", err)
		}
		j.size = int64(journalHeader)
	}
	var mark [journalHeader + journalEntryHead]byte
	copy(mark[:], h[:])
	if _, err := j.f.WriteAt(mark[:], 0); err != nil {
		j.known = false
		return j.fail("be emptied", err)
	}
	j.size = max(j.size, int64(len(mark)))
	if j.size < journalChunk {
		if err := j.grow(journalChunk - j.size); err != nil {
			j.known = false
			return err
		}
	}
	j.known, j.gen, j.end, j.moved = true, binary.BigEndian.Uint64(h[len(journalMagic):]), int64(journalHeader), int64(journalHeader)
	j.seq, j.hash, j.pending, j.headStale = seq, hash, 0, false
	return nil
}

// read returns the journal's complete entries; a torn or garbled tail is
// left out (it was never acknowledged). A file without a valid header
// holds nothing.
func (j *journal) read() ([]*credbroker.AuditRecord, error) {
	var h [journalHeader]byte
	if _, err := j.f.ReadAt(h[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, j.fail("be read", err)
	}
	if string(h[:len(journalMagic)]) != journalMagic {
		return nil, nil
	}
	// Entry by entry, up to the end mark: the file is mostly zeros.
	var recs []*credbroker.AuditRecord
	off := int64(journalHeader)
	var eh [journalEntryHead]byte
	for {
		if _, err := j.f.ReadAt(eh[:], off); err != nil {
			if errors.Is(err, io.EOF) {
				return recs, nil
			}
			return nil, j.fail("be read", err)
		}
		n := int64(binary.BigEndian.Uint32(eh[:]))
		if n == 0 || n > maxJournalEntry {
			return recs, nil
		}
		entry := make([]byte, journalEntryHead+n)
		if _, err := j.f.ReadAt(entry, off); err != nil {
			if errors.Is(err, io.EOF) {
				return recs, nil // torn
			}
			return nil, j.fail("be read", err)
		}
		got := parseEntries(entry)
		if len(got) != 1 {
			return recs, nil
		}
		recs = append(recs, got[0])
		off += int64(len(entry))
	}
}

// readRange returns the entries between two offsets this process wrote.
func (j *journal) readRange(from, to int64) ([]*credbroker.AuditRecord, error) {
	data := make([]byte, to-from)
	if _, err := j.f.ReadAt(data, from); err != nil {
		return nil, j.fail("be read", err)
	}
	return parseEntries(data), nil
}

// parseEntries decodes entries up to the first that is torn or garbled.
func parseEntries(data []byte) []*credbroker.AuditRecord {
	var recs []*credbroker.AuditRecord
	for rest := data; len(rest) >= journalEntryHead; {
		n := int(binary.BigEndian.Uint32(rest))
		sum := binary.BigEndian.Uint32(rest[4:])
		if n > maxJournalEntry || len(rest) < journalEntryHead+n {
			break
		}
		payload := rest[journalEntryHead : journalEntryHead+n]
		if crc32.Checksum(payload, crcTable) != sum {
			break
		}
		r := new(credbroker.AuditRecord)
		if err := json.Unmarshal(payload, r); err != nil {
			break
		}
		recs = append(recs, r)
		rest = rest[journalEntryHead+n:]
	}
	return recs
}

// move moves the journal's records into the table now.
func (j *journal) move(ctx context.Context) error {
	j.moveMu.Lock()
	defer j.moveMu.Unlock()
	return j.locked(ctx, func() error { return j.moveLocked(ctx) })
}

// moveSome is the background step: it moves what was appended since its
// last round into the table while appends go on (it holds the lock only
// to read the entries and, when it finds everything moved, to empty the
// file). A journal another process changed, or one grown past
// journalCompactAt, is moved in full under the lock instead.
func (j *journal) moveSome(ctx context.Context) {
	j.moveMu.Lock()
	defer j.moveMu.Unlock()
	var recs []*credbroker.AuditRecord
	var upto int64
	var gen uint64
	err := j.locked(ctx, func() error {
		ok, err := j.current()
		if err != nil {
			return j.fail("be read", err)
		}
		if !ok || j.moveErr != nil || j.end > journalCompactAt {
			return j.moveLocked(ctx)
		}
		if j.moved == j.end {
			if j.end > int64(journalHeader) {
				return j.moveLocked(ctx) // all in the table: empty the file
			}
			return nil
		}
		upto, gen = j.end, j.gen
		recs, err = j.readRange(j.moved, j.end)
		return err
	})
	if err != nil || len(recs) == 0 {
		return
	}
	err = j.insert(ctx, recs)
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		// Another process moved them first, or the table refuses them:
		// the next round, or the next append, moves under the lock.
		j.moveErr = err
		return
	}
	if j.known && j.gen == gen && upto > j.moved {
		j.moved = upto
		j.pending = max(0, j.pending-len(recs))
	}
}

// forRead moves the journal's records into the table for a read of the
// trail. When the table refuses them (a full disk) it returns them
// instead, still durable in the journal, so that the trail can be read
// in full anyway; err is only for a journal that cannot be read.
func (j *journal) forRead(ctx context.Context) (left []*credbroker.AuditRecord, err error) {
	j.moveMu.Lock()
	defer j.moveMu.Unlock()
	err = j.locked(ctx, func() error {
		if j.moveLocked(ctx) == nil {
			return nil
		}
		var err error
		left, _, _, err = j.unmoved(ctx)
		return err
	})
	return left, err
}

// Enter implements sqlstore.AuditGate: a transaction that appends audit
// records runs with the journal moved into the table and locked, and
// the head is read again after it.
func (j *journal) Enter(ctx context.Context) (func(), error) {
	j.moveMu.Lock()
	j.mu.Lock()
	opening := j.core == nil
	j.mu.Unlock()
	if opening {
		// The migrations run before the journal starts.
		j.moveMu.Unlock()
		return func() {}, nil
	}
	if err := j.acquire(); err != nil {
		j.moveMu.Unlock()
		return nil, err
	}
	if err := j.moveLocked(ctx); err != nil {
		j.release()
		j.moveMu.Unlock()
		return nil, err
	}
	return func() {
		// The journal is empty (moved above) and as this process left
		// it; only the head moved on, in the table.
		j.headStale = true
		j.release()
		j.moveMu.Unlock()
	}, nil
}

// background moves records into the table every journalFlushEvery, or
// sooner when many are pending, until close.
func (j *journal) background() {
	defer close(j.done)
	t := time.NewTicker(journalFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
		case <-j.kick:
		}
		j.mu.Lock()
		idle := j.known && j.moveErr == nil && j.end == int64(journalHeader)
		j.mu.Unlock()
		if idle {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), journalFlushTimeout)
		// A failure leaves the records in the journal, durable; the next
		// round, or the next read, tries again.
		j.moveSome(ctx)
		cancel()
	}
}

// close stops the background step, moves what is left into the table
// and closes the file.
func (j *journal) close(ctx context.Context) error {
	j.mu.Lock()
	if j.f == nil {
		j.mu.Unlock()
		return nil
	}
	running := j.running
	j.running = false
	j.mu.Unlock()
	var err error
	if running {
		close(j.stop)
		<-j.done
		err = j.move(ctx)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	errs := []error{err}
	if j.f != nil {
		errs = append(errs, j.f.Close())
		j.f = nil
	}
	return errors.Join(errs...)
}
