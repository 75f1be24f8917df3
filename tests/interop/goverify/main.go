// Command goverify is custody's INDEPENDENT verifier for its audit ledger.
//
// It checks custody's C2SP tlog-tiles log, signed checkpoints, tlog-proof
// files, consistency proofs and tlog-cosignature witness signatures with
// code custody did not write: Go's golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog (Debian golang-golang-x-mod-dev 0.7.0), plus
// the Go standard library. It can also generate a reference log ("gen")
// that custody's own C parsers and verifier can be tested against.
//
// Build (no network): see build.sh next to this file, or
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o goverify main.go
//
// Usage:
//
//	goverify checkpoint  VKEY FILE
//	goverify tree        VKEY LOGDIR [CHECKPOINT]
//	goverify inclusion   VKEY PROOFFILE ENTRYFILE
//	goverify consistency VKEY OLDCHECKPOINT NEWCHECKPOINT PROOFFILE
//	goverify cosig       WITNESS_VKEY FILE
//	goverify gen         DIR N [ORIGIN]
//
// gen writes, deterministically for a given N and ORIGIN (default
// example.com/goverify-gen), a golden corpus for custody's own tests:
//
//	DIR/vkey, DIR/skey             log key (note.GenerateKey, seeded), type 0x01
//	DIR/witness.vkey               witness key "example.com/goverify-witness", type 0x04
//	DIR/checkpoint                 size N, log signature + one cosignature (time 1700000000)
//	DIR/tile/entries/..., tile/L/...  bundles and hash tiles written as the log
//	                               grew through sizes 1, 2, 255, 256, 257, N/2, N-1, N
//	                               (so older partials .p/W are present too)
//	DIR/proofs/<i>.proof, <i>.entry   tlog-proof files (0.proof has an "extra" line)
//	                               and the entry bytes, for i in 0, 1, 255, 256, N/2, N-1
//	DIR/consistency/<m>.checkpoint, <m>.proof  signed checkpoint of size m and the
//	                               proof from m to N (one base64 hash per line)
//
// VKEY is a note verifier key string "<name>+<hex id>+<base64 key>", or the
// path of a file holding one. Every failure prints "goverify: ..." to stderr
// and exits 1; success prints one line "ok: ..." to stdout and exits 0.
// Usage errors exit 2.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	tileHeight  = 8   // C2SP tlog-tiles: tiles are subtrees of height 8
	tileWidth   = 256 // hashes in a full hash tile, entries in a full bundle
	proofHeader = "c2sp.org/tlog-proof@v1"
	cosigAlg    = 0x04 // tlog-cosignature Ed25519 signature type byte
)

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256("").
// (x/mod's tlog.TreeHash(0, r) returns the all-zero hash instead.)
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "goverify: "+format+"\n", args...)
	os.Exit(1)
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  goverify checkpoint  VKEY FILE
  goverify tree        VKEY LOGDIR [CHECKPOINT]
  goverify inclusion   VKEY PROOFFILE ENTRYFILE
  goverify consistency VKEY OLDCHECKPOINT NEWCHECKPOINT PROOFFILE
  goverify cosig       WITNESS_VKEY FILE
  goverify gen         DIR N [ORIGIN]
VKEY: "<name>+<hex key id>+<base64 key>" or the path of a file holding it.
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	need := func(min, max int) {
		if len(args) < min || len(args) > max {
			fmt.Fprintf(os.Stderr, "goverify %s: wrong number of arguments\n", cmd)
			usage()
		}
	}
	switch cmd {
	case "checkpoint":
		need(2, 2)
		cmdCheckpoint(args[0], args[1])
	case "tree":
		need(2, 3)
		cpPath := filepath.Join(args[1], "checkpoint")
		if len(args) == 3 {
			cpPath = args[2] // e.g. an older checkpoint of the same log
		}
		cmdTree(args[0], args[1], cpPath)
	case "inclusion":
		need(3, 3)
		cmdInclusion(args[0], args[1], args[2])
	case "consistency":
		need(4, 4)
		cmdConsistency(args[0], args[1], args[2], args[3])
	case "cosig":
		need(2, 2)
		cmdCosig(args[0], args[1])
	case "gen":
		need(2, 3)
		origin := "example.com/goverify-gen"
		if len(args) == 3 {
			origin = args[2]
		}
		cmdGen(args[0], args[1], origin)
	case "-h", "-help", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "goverify: unknown subcommand %q\n", cmd)
		usage()
	}
}

// ---------------------------------------------------------------------------
// Keys, notes and checkpoints

// loadVKey returns the verifier key string: the argument itself, or the
// trimmed contents of the regular file it names.
func loadVKey(arg string) string {
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		b, err := os.ReadFile(arg)
		if err != nil {
			fail("reading verifier key file %s: %v", arg, err)
		}
		return strings.TrimSpace(string(b))
	}
	return strings.TrimSpace(arg)
}

func newVerifier(arg string) note.Verifier {
	vk := loadVKey(arg)
	v, err := note.NewVerifier(vk)
	if err != nil {
		fail("bad verifier key %q: %v", vk, err)
	}
	return v
}

func readFile(path, what string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("reading %s: %v", what, err)
	}
	return b
}

// Checkpoint is a parsed C2SP tlog-checkpoint body.
type Checkpoint struct {
	Origin     string
	Size       int64
	Root       tlog.Hash
	Extensions []string
	Text       string // the note text (body), ending in "\n"
	Sigs       int    // signatures verified by the given key
	Unverified int    // other signature lines (e.g. witness cosignatures)
}

// parseDecimal parses a non-negative ASCII decimal with no sign and no
// leading zeroes (except "0" itself).
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func parseHash(s string) (tlog.Hash, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("not standard base64: %q", s)
	}
	if len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("hash %q decodes to %d bytes, want %d", s, len(b), tlog.HashSize)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h, nil
}

// parseCheckpointText parses the body of a C2SP checkpoint note. We do not
// use tlog.ParseTree: it requires the Go-specific first line
// "go.sum database tree" where C2SP has the log origin.
func parseCheckpointText(text string) (*Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("checkpoint body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("checkpoint body has %d lines, want at least 3 (origin, size, root)", len(lines))
	}
	cp := &Checkpoint{Text: text}
	if cp.Origin = lines[0]; cp.Origin == "" {
		return nil, errors.New("checkpoint origin (line 1) is empty")
	}
	size, ok := parseDecimal(lines[1])
	if !ok {
		return nil, fmt.Errorf("checkpoint size (line 2) %q is not a decimal without leading zeroes", lines[1])
	}
	cp.Size = size
	root, err := parseHash(lines[2])
	if err != nil {
		return nil, fmt.Errorf("checkpoint root (line 3): %v", err)
	}
	cp.Root = root
	for i, l := range lines[3:] {
		if l == "" {
			return nil, fmt.Errorf("checkpoint extension line %d is empty", i+4)
		}
		cp.Extensions = append(cp.Extensions, l)
	}
	return cp, nil
}

// openCheckpoint verifies msg's signature by v with note.Open and parses the
// body as a C2SP checkpoint. Signature lines by other keys (witness
// cosignatures) are accepted and counted as unverified, as the signed-note
// spec requires.
func openCheckpoint(v note.Verifier, msg []byte, what string) *Checkpoint {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var une *note.UnverifiedNoteError
		var ise *note.InvalidSignatureError
		switch {
		case errors.As(err, &une):
			fail("%s: no signature by key %s+%08x (note.Open: %v)", what, v.Name(), v.KeyHash(), err)
		case errors.As(err, &ise):
			fail("%s: signature by %s does not verify (note.Open: %v)", what, v.Name(), err)
		default:
			fail("%s: note.Open: %v", what, err)
		}
	}
	// x/mod 0.7.0's note.Open checks only the FIRST line by a given key and
	// skips repeats unverified. signed-note says a line whose name and key ID
	// match a known key MUST be verified (and a failure SHOULD reject the
	// note), so verify every such line ourselves.
	text := []byte(n.Text)
	sigs := msg[len(text)+1:] // note.Open guarantees msg = text "\n" sigs
	for i, line := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
		name, b64 := chop(strings.TrimPrefix(line, "— "), " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) < 4 || name != v.Name() || binary.BigEndian.Uint32(sig) != v.KeyHash() {
			continue // note.Open already rejected malformed lines
		}
		if !v.Verify(text, sig[4:]) {
			fail("%s: signature line %d by %s+%08x does not verify (a repeated line, which x/mod's note.Open skips)",
				what, i+1, v.Name(), v.KeyHash())
		}
	}
	cp, err := parseCheckpointText(n.Text)
	if err != nil {
		fail("%s: %v", what, err)
	}
	cp.Sigs, cp.Unverified = len(n.Sigs), len(n.UnverifiedSigs)
	return cp
}

// chop splits s at the first sep.
func chop(s, sep string) (string, string) {
	if i := strings.Index(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):]
	}
	return s, ""
}

func cmdCheckpoint(vkey, file string) {
	v := newVerifier(vkey)
	cp := openCheckpoint(v, readFile(file, "checkpoint "+file), "checkpoint "+file)
	fmt.Printf("ok: checkpoint origin=%s size=%d root=%s extensions=%d other-signatures=%d\n",
		cp.Origin, cp.Size, cp.Root, len(cp.Extensions), cp.Unverified)
}

// ---------------------------------------------------------------------------
// Tile paths (C2SP tlog-tiles)

// tileN encodes N in 3-digit groups, all but the last prefixed with "x".
func tileN(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// c2spTilePath returns the C2SP path of tile t (height 8). Level -1 is an
// entry bundle: C2SP spells it "tile/entries/N", x/mod "tile/8/data/N". For
// hash tiles C2SP's path is x/mod's t.Path() without the "/8" height element.
func c2spTilePath(t tlog.Tile) string {
	level := strconv.Itoa(t.L)
	if t.L == -1 {
		level = "entries"
	}
	p := "tile/" + level + "/" + tileN(t.N)
	if t.W != tileWidth {
		p += fmt.Sprintf(".p/%d", t.W)
	}
	if t.L >= 0 {
		// Cross-check against x/mod's own encoding.
		xp := t.Path()
		if want := "tile/8/" + strings.TrimPrefix(p, "tile/"); xp != want {
			panic(fmt.Sprintf("tile path mismatch: x/mod %s vs %s", xp, want))
		}
	}
	return p
}

// parseC2SPTilePath parses a path relative to the log prefix. ok is false
// for anything that is not a well-formed canonical tile path.
func parseC2SPTilePath(rel string) (t tlog.Tile, ok bool) {
	f := strings.Split(filepath.ToSlash(rel), "/")
	if len(f) < 3 || f[0] != "tile" {
		return t, false
	}
	t.H = tileHeight
	if f[1] == "entries" {
		t.L = -1
	} else {
		l, ok := parseDecimal(f[1])
		if !ok || l > 63 {
			return t, false
		}
		t.L = int(l)
	}
	t.W = tileWidth
	f = f[2:]
	if len(f) >= 2 && strings.HasSuffix(f[len(f)-2], ".p") {
		w, ok := parseDecimal(f[len(f)-1])
		if !ok || w < 1 || w >= tileWidth {
			return t, false
		}
		t.W = int(w)
		f[len(f)-2] = strings.TrimSuffix(f[len(f)-2], ".p")
		f = f[:len(f)-1]
	}
	for _, s := range f {
		nn, err := strconv.Atoi(strings.TrimPrefix(s, "x"))
		if err != nil || nn < 0 || nn >= 1000 {
			return t, false
		}
		t.N = t.N*1000 + int64(nn)
	}
	return t, c2spTilePath(t) == filepath.ToSlash(rel)
}

// tilesForSize lists the tiles (level -1 = entry bundles) that a tlog-tiles
// log of the given size must publish: at each level, the full tiles and,
// when the count of level-8L nodes is not a multiple of 256, one partial tile.
func tilesForSize(size int64) []tlog.Tile {
	var tiles []tlog.Tile
	add := func(level int, nodes int64) {
		for n := int64(0); n < nodes/tileWidth; n++ {
			tiles = append(tiles, tlog.Tile{H: tileHeight, L: level, N: n, W: tileWidth})
		}
		if w := nodes % tileWidth; w != 0 {
			tiles = append(tiles, tlog.Tile{H: tileHeight, L: level, N: nodes / tileWidth, W: int(w)})
		}
	}
	add(-1, size)
	for level := 0; size>>(uint(level)*tileHeight) > 0; level++ {
		add(level, size>>(uint(level)*tileHeight))
	}
	return tiles
}

// ---------------------------------------------------------------------------
// In-memory tree built with x/mod's tlog

type memTree struct {
	hashes []tlog.Hash // indexed by tlog stored hash index
	n      int64
}

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("stored hash index %d out of range (have %d)", x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memTree) appendRecordHash(h tlog.Hash) {
	hs, err := tlog.StoredHashesForRecordHash(m.n, h, m)
	if err != nil {
		fail("internal: tlog.StoredHashes(%d): %v", m.n, err)
	}
	if int64(len(m.hashes)) != tlog.StoredHashIndex(0, m.n) {
		fail("internal: stored hash index mismatch at record %d", m.n)
	}
	m.hashes = append(m.hashes, hs...)
	m.n++
}

func (m *memTree) append(entry []byte) { m.appendRecordHash(tlog.RecordHash(entry)) }

// root returns the RFC 6962 root of the first size records.
func (m *memTree) root(size int64) tlog.Hash {
	if size == 0 {
		return emptyRoot
	}
	h, err := tlog.TreeHash(size, m)
	if err != nil {
		fail("internal: tlog.TreeHash(%d): %v", size, err)
	}
	return h
}

func (m *memTree) leaf(i int64) tlog.Hash { return m.hashes[tlog.StoredHashIndex(0, i)] }

// ---------------------------------------------------------------------------
// tree

// parseBundle splits an entry bundle into its uint16-length-prefixed entries.
func parseBundle(data []byte) ([][]byte, error) {
	var entries [][]byte
	for off := 0; off < len(data); {
		if len(data)-off < 2 {
			return nil, fmt.Errorf("truncated length prefix at byte %d", off)
		}
		l := int(binary.BigEndian.Uint16(data[off:]))
		off += 2
		if len(data)-off < l {
			return nil, fmt.Errorf("entry %d at byte %d claims %d bytes, only %d left", len(entries), off-2, l, len(data)-off)
		}
		entries = append(entries, data[off:off+l])
		off += l
	}
	return entries, nil
}

// tileNode describes hash i of tile t: level and index of the tree node.
func tileNode(t tlog.Tile, i int) string {
	return fmt.Sprintf("node level %d index %d", t.L*tileHeight, t.N*tileWidth+int64(i))
}

// diskTiles is an x/mod tlog.TileReader over a C2SP tlog-tiles directory.
type diskTiles struct{ dir string }

func (d diskTiles) Height() int { return tileHeight }
func (d diskTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := c2spTilePath(t)
		b, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		if len(b) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", p, len(b), t.W*tlog.HashSize)
		}
		out[i] = b
	}
	return out, nil
}
func (d diskTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// cmdTree verifies the log under dir against the checkpoint in cpPath
// (normally dir/checkpoint; an older checkpoint works too while the partial
// tiles for its size are still on disk, as tlog-tiles logs keep them).
func cmdTree(vkey, dir, cpPath string) {
	v := newVerifier(vkey)
	cp := openCheckpoint(v, readFile(cpPath, "checkpoint "+cpPath), "checkpoint "+cpPath)
	size := cp.Size

	// 1. Entry bundles -> leaf hashes -> stored hashes (x/mod tlog).
	tiles := tilesForSize(size)
	required := make(map[string]bool)
	tree := &memTree{}
	bundleOf := make(map[int64]string) // bundle N -> path, for messages
	nBundles, nTiles := 0, 0
	for _, t := range tiles {
		if t.L != -1 {
			continue
		}
		p := c2spTilePath(t)
		required[p] = true
		bundleOf[t.N] = p
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			fail("entry bundle %s (entries %d..%d of tree size %d): %v", p, t.N*tileWidth, t.N*tileWidth+int64(t.W)-1, size, err)
		}
		entries, err := parseBundle(data)
		if err != nil {
			fail("entry bundle %s: %v", p, err)
		}
		if len(entries) != t.W {
			fail("entry bundle %s holds %d entries, want %d", p, len(entries), t.W)
		}
		for _, e := range entries {
			tree.append(e)
		}
		nBundles++
	}
	if tree.n != size {
		fail("internal: read %d entries for size %d", tree.n, size)
	}
	root := tree.root(size)

	// 2. Compare with the checkpoint root. On mismatch, locate the first
	// entry whose leaf hash disagrees with the level-0 hash tiles.
	if root != cp.Root {
		compared := true
		for _, t := range tiles {
			if t.L != 0 {
				continue
			}
			p := c2spTilePath(t)
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
			if err != nil || len(data) != t.W*tlog.HashSize {
				compared = false
				break
			}
			for i := 0; i < t.W; i++ {
				idx := t.N*tileWidth + int64(i)
				if !bytes.Equal(data[i*tlog.HashSize:(i+1)*tlog.HashSize], leafBytes(tree, idx)) {
					fail("root mismatch: entries give %s, checkpoint says %s; first disagreement: entry %d (%s position %d) has leaf hash %s but %s hash #%d is %s",
						root, cp.Root, idx, bundleOf[idx/tileWidth], idx%tileWidth, tree.leaf(idx),
						p, i, base64.StdEncoding.EncodeToString(data[i*tlog.HashSize:(i+1)*tlog.HashSize]))
				}
			}
		}
		if !compared {
			fail("root mismatch: entries give %s, checkpoint %s says %s (level-0 hash tiles missing or malformed, cannot locate the bad entry)",
				root, cpPath, cp.Root)
		}
		fail("root mismatch: entries give %s, checkpoint %s says %s (entries agree with level-0 tiles: checkpoint root wrong, or entries and tiles rewritten together)",
			root, cpPath, cp.Root)
	}

	// 3. Every hash tile for this size must exist and equal the recomputed
	// hashes (tlog.ReadTileData reads them from the recomputed tree).
	for _, t := range tiles {
		if t.L < 0 {
			continue
		}
		p := c2spTilePath(t)
		required[p] = true
		checkHashTile(dir, p, t, tree)
		nTiles++
	}

	// 4. Independent path through x/mod: tlog.TileHashReader authenticates
	// the on-disk tiles against the checkpoint (size, root) and serves leaf
	// hashes from them; they must equal the entries' leaf hashes.
	if size > 0 {
		hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: cp.Root}, diskTiles{dir})
		probe := []int64{0, size / 2, size - 1}
		idx := make([]int64, len(probe))
		for i, x := range probe {
			idx[i] = tlog.StoredHashIndex(0, x)
		}
		got, err := hr.ReadHashes(idx)
		if err != nil {
			fail("x/mod tlog.TileHashReader rejected the hash tiles for size %d: %v", size, err)
		}
		for i, x := range probe {
			if got[i] != tree.leaf(x) {
				fail("x/mod tlog.TileHashReader: leaf %d from tiles is %s, entry gives %s", x, got[i], tree.leaf(x))
			}
		}
	}

	// 5. Older partial tiles and bundles left on disk (files never change;
	// partials are superseded by fuller ones at new paths) must agree with
	// the tree too when they lie entirely within it.
	extra, later := 0, 0
	tileRoot := filepath.Join(dir, "tile")
	if _, err := os.Stat(tileRoot); err == nil {
		err := filepath.Walk(tileRoot, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(dir, path)
			rel = filepath.ToSlash(rel)
			if required[rel] {
				return nil
			}
			t, ok := parseC2SPTilePath(rel)
			if !ok {
				fmt.Fprintf(os.Stderr, "goverify: note: ignoring non-tile file %s\n", rel)
				return nil
			}
			var nodes int64 = size
			if t.L >= 0 {
				nodes = size >> (uint(t.L) * tileHeight)
			}
			if t.N*tileWidth+int64(t.W) > nodes {
				later++ // written for a larger tree than this checkpoint
				return nil
			}
			if t.L >= 0 {
				checkHashTile(dir, rel, t, tree)
			} else {
				entries, err := parseBundle(readFile(path, rel))
				if err != nil {
					fail("entry bundle %s: %v", rel, err)
				}
				if len(entries) != t.W {
					fail("entry bundle %s holds %d entries, want %d", rel, len(entries), t.W)
				}
				for i, e := range entries {
					idx := t.N*tileWidth + int64(i)
					if tlog.RecordHash(e) != tree.leaf(idx) {
						fail("older entry bundle %s position %d: entry %d differs from %s", rel, i, idx, bundleOf[t.N])
					}
				}
			}
			extra++
			return nil
		})
		if err != nil {
			fail("walking %s: %v", tileRoot, err)
		}
	}
	fmt.Printf("ok: tree origin=%s size=%d root=%s bundles=%d hash-tiles=%d older-partials-checked=%d beyond-size=%d\n",
		cp.Origin, size, cp.Root, nBundles, nTiles, extra, later)
}

func checkHashTile(dir, p string, t tlog.Tile, tree *memTree) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
	if err != nil {
		fail("hash tile %s (level %d, %s..): %v", p, t.L, tileNode(t, 0), err)
	}
	if len(data) != t.W*tlog.HashSize {
		fail("hash tile %s is %d bytes, want %d (%d hashes)", p, len(data), t.W*tlog.HashSize, t.W)
	}
	want, err := tlog.ReadTileData(t, tree)
	if err != nil {
		fail("internal: tlog.ReadTileData(%s): %v", p, err)
	}
	if bytes.Equal(data, want) {
		return
	}
	for i := 0; i < t.W; i++ {
		a, b := data[i*tlog.HashSize:(i+1)*tlog.HashSize], want[i*tlog.HashSize:(i+1)*tlog.HashSize]
		if !bytes.Equal(a, b) {
			fail("hash tile %s hash #%d (%s) is %s, recomputed from entries %s",
				p, i, tileNode(t, i), base64.StdEncoding.EncodeToString(a), base64.StdEncoding.EncodeToString(b))
		}
	}
}

// ---------------------------------------------------------------------------
// inclusion (C2SP tlog-proof)

type tlogProof struct {
	Extra      []byte
	HasExtra   bool
	Index      int64
	Hashes     tlog.RecordProof
	Checkpoint []byte
}

func parseTlogProof(b []byte) (*tlogProof, error) {
	p := &tlogProof{}
	rest := string(b)
	next := func() (string, bool) {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return "", false
		}
		l := rest[:i]
		rest = rest[i+1:]
		return l, true
	}
	l, ok := next()
	if !ok || l != proofHeader {
		return nil, fmt.Errorf("first line is not %q", proofHeader)
	}
	if l, ok = next(); !ok {
		return nil, errors.New("missing index line")
	}
	if strings.HasPrefix(l, "extra ") {
		x, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "extra "))
		if err != nil {
			return nil, fmt.Errorf("extra line is not base64: %v", err)
		}
		p.Extra, p.HasExtra = x, true
		if l, ok = next(); !ok {
			return nil, errors.New("missing index line")
		}
	}
	if !strings.HasPrefix(l, "index ") {
		return nil, fmt.Errorf("expected \"index <N>\" line, got %q", l)
	}
	idx, ok := parseDecimal(strings.TrimPrefix(l, "index "))
	if !ok {
		return nil, fmt.Errorf("bad index line %q (decimal, no leading zeroes)", l)
	}
	p.Index = idx
	for {
		l, ok = next()
		if !ok {
			return nil, errors.New("missing empty line before the checkpoint")
		}
		if l == "" {
			break
		}
		h, err := parseHash(l)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof line %d: %v", len(p.Hashes)+1, err)
		}
		p.Hashes = append(p.Hashes, h)
	}
	if rest == "" {
		return nil, errors.New("missing checkpoint after the proof")
	}
	p.Checkpoint = []byte(rest)
	return p, nil
}

func cmdInclusion(vkey, proofFile, entryFile string) {
	v := newVerifier(vkey)
	p, err := parseTlogProof(readFile(proofFile, "proof "+proofFile))
	if err != nil {
		fail("tlog-proof %s: %v", proofFile, err)
	}
	cp := openCheckpoint(v, p.Checkpoint, "checkpoint in "+proofFile)
	entry := readFile(entryFile, "entry "+entryFile)
	if p.Index >= cp.Size {
		fail("tlog-proof %s: index %d is not below checkpoint size %d", proofFile, p.Index, cp.Size)
	}
	if err := tlog.CheckRecord(p.Hashes, cp.Size, cp.Root, p.Index, tlog.RecordHash(entry)); err != nil {
		fail("inclusion proof %s for %s (index %d, size %d, %d hashes) does not verify: %v",
			proofFile, entryFile, p.Index, cp.Size, len(p.Hashes), err)
	}
	extra := ""
	if p.HasExtra {
		extra = fmt.Sprintf(" extra=%d-bytes", len(p.Extra))
	}
	fmt.Printf("ok: inclusion index=%d size=%d root=%s origin=%s proof-hashes=%d%s\n",
		p.Index, cp.Size, cp.Root, cp.Origin, len(p.Hashes), extra)
}

// ---------------------------------------------------------------------------
// consistency

func parseHashList(b []byte) ([]tlog.Hash, error) {
	s := string(b)
	if s == "" {
		return nil, nil
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n" // tolerate a missing final newline
	}
	var hs []tlog.Hash
	for i, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		h, err := parseHash(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func cmdConsistency(vkey, oldFile, newFile, proofFile string) {
	v := newVerifier(vkey)
	oldCp := openCheckpoint(v, readFile(oldFile, "old checkpoint "+oldFile), "old checkpoint "+oldFile)
	newCp := openCheckpoint(v, readFile(newFile, "new checkpoint "+newFile), "new checkpoint "+newFile)
	proof, err := parseHashList(readFile(proofFile, "consistency proof "+proofFile))
	if err != nil {
		fail("consistency proof %s: %v", proofFile, err)
	}
	if oldCp.Origin != newCp.Origin {
		fail("origins differ: old %q, new %q", oldCp.Origin, newCp.Origin)
	}
	if oldCp.Size > newCp.Size {
		fail("old size %d is larger than new size %d", oldCp.Size, newCp.Size)
	}
	if oldCp.Size == 0 {
		// tlog.CheckTree rejects n < 1; RFC 9162: the empty tree is a prefix
		// of every tree and needs no proof.
		if oldCp.Root != emptyRoot {
			fail("old checkpoint has size 0 but root %s, want SHA-256(\"\") %s", oldCp.Root, emptyRoot)
		}
		if len(proof) != 0 {
			fail("consistency proof from size 0 must be empty, has %d hashes", len(proof))
		}
	} else if err := tlog.CheckTree(proof, newCp.Size, newCp.Root, oldCp.Size, oldCp.Root); err != nil {
		fail("consistency proof %s (%d hashes) from size %d to %d does not verify: %v",
			proofFile, len(proof), oldCp.Size, newCp.Size, err)
	}
	fmt.Printf("ok: consistency origin=%s old-size=%d new-size=%d proof-hashes=%d\n",
		newCp.Origin, oldCp.Size, newCp.Size, len(proof))
}

// ---------------------------------------------------------------------------
// cosig (C2SP tlog-cosignature, Ed25519 type 0x04), with crypto/ed25519

type cosigKey struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

func keyID(name string, alg byte, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', alg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

func parseCosigVKey(arg string) cosigKey {
	vk := loadVKey(arg)
	parts := strings.SplitN(vk, "+", 3)
	if len(parts) != 3 || parts[0] == "" || len(parts[1]) != 8 {
		fail("bad witness verifier key %q: want <name>+<8 hex>+<base64>", vk)
	}
	id, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		fail("bad witness verifier key %q: key id: %v", vk, err)
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 1+ed25519.PublicKeySize {
		fail("bad witness verifier key %q: key must be base64 of 33 bytes", vk)
	}
	if key[0] != cosigAlg {
		fail("witness verifier key %q has type 0x%02x, want 0x04 (tlog-cosignature Ed25519)", vk, key[0])
	}
	if want := keyID(parts[0], key[0], key[1:]); uint32(id) != want {
		fail("witness verifier key %q: key id %08x does not match key (want %08x)", vk, id, want)
	}
	return cosigKey{name: parts[0], id: uint32(id), pub: ed25519.PublicKey(key[1:])}
}

func cosignedMessage(ts uint64, body string) []byte {
	return []byte(fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, body))
}

func cmdCosig(wkey, file string) {
	k := parseCosigVKey(wkey)
	msg := readFile(file, "checkpoint "+file)
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 || len(msg) == split+2 || msg[len(msg)-1] != '\n' {
		fail("%s: not a signed note (no blank line followed by newline-terminated signature lines)", file)
	}
	body, sigs := string(msg[:split+1]), string(msg[split+2:])
	cp, err := parseCheckpointText(body)
	if err != nil {
		fail("%s: %v", file, err)
	}
	found := 0
	var ts uint64
	for i, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		if !strings.HasPrefix(line, "— ") {
			fail("%s: signature line %d does not start with \"— \"", file, i+1)
		}
		name, b64 := line[len("— "):], ""
		if j := strings.LastIndexByte(name, ' '); j >= 0 {
			name, b64 = name[:j], name[j+1:]
		}
		if name != k.name {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) < 4 {
			fail("%s: signature line %d: bad base64", file, i+1)
		}
		if binary.BigEndian.Uint32(sig) != k.id {
			continue // same name, different key
		}
		sig = sig[4:]
		if len(sig) != 8+ed25519.SignatureSize {
			fail("%s: cosignature by %s is %d bytes after the key id, want 72 (timestamp + Ed25519 signature)", file, k.name, len(sig))
		}
		t := binary.BigEndian.Uint64(sig)
		if t > 1<<63-1 {
			fail("%s: cosignature timestamp %d exceeds 2^63-1", file, t)
		}
		if !ed25519.Verify(k.pub, cosignedMessage(t, body), sig[8:]) {
			fail("%s: cosignature by %s+%08x (time %d) does not verify", file, k.name, k.id, t)
		}
		ts = t
		found++
	}
	if found == 0 {
		fail("%s: no cosignature line by witness %s+%08x", file, k.name, k.id)
	}
	fmt.Printf("ok: cosig witness=%s time=%d origin=%s size=%d root=%s\n", k.name, ts, cp.Origin, cp.Size, cp.Root)
}

// ---------------------------------------------------------------------------
// gen: a reference log written by Go, deterministic for a given N and origin.

// detRand is a deterministic byte stream: SHA-256(seed || counter).
type detRand struct {
	seed string
	ctr  uint64
	buf  []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.ctr)
			r.ctr++
			s := sha256.Sum256(append([]byte(r.seed), c[:]...))
			r.buf = s[:]
		}
		k := copy(p[n:], r.buf)
		r.buf = r.buf[k:]
		n += k
	}
	return len(p), nil
}

var _ io.Reader = (*detRand)(nil)

const (
	genWitnessName = "example.com/goverify-witness"
	genCosigTime   = 1700000000
)

func writeFileNew(path string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fail("gen: %v", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		fail("gen: %v", err)
	}
}

func genEntry(i int64) []byte { return []byte(fmt.Sprintf("entry %d\n", i)) }

func cmdGen(dir, nArg, origin string) {
	n, ok := parseDecimal(nArg)
	if !ok {
		fail("gen: N %q is not a non-negative decimal", nArg)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		fail("gen: %s exists and is not empty", dir)
	}

	// Keys: the log key via x/mod note.GenerateKey; a witness key (type 0x04)
	// for one cosignature. Deterministic, so the corpus is reproducible.
	skey, vkey, err := note.GenerateKey(&detRand{seed: "goverify gen log key " + origin}, origin)
	if err != nil {
		fail("gen: note.GenerateKey: %v", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		fail("gen: note.NewSigner: %v", err)
	}
	wpub, wpriv, err := ed25519.GenerateKey(&detRand{seed: "goverify gen witness key"})
	if err != nil {
		fail("gen: %v", err)
	}
	wid := keyID(genWitnessName, cosigAlg, wpub)
	wvkey := fmt.Sprintf("%s+%08x+%s", genWitnessName, wid,
		base64.StdEncoding.EncodeToString(append([]byte{cosigAlg}, wpub...)))
	writeFileNew(filepath.Join(dir, "vkey"), []byte(vkey+"\n"))
	writeFileNew(filepath.Join(dir, "skey"), []byte(skey+"\n"))
	writeFileNew(filepath.Join(dir, "witness.vkey"), []byte(wvkey+"\n"))

	// Build the tree.
	tree := &memTree{}
	for i := int64(0); i < n; i++ {
		tree.append(genEntry(i))
	}

	sign := func(size int64) []byte {
		body := fmt.Sprintf("%s\n%d\n%s\n", origin, size, tree.root(size))
		msg, err := note.Sign(&note.Note{Text: body}, signer)
		if err != nil {
			fail("gen: note.Sign: %v", err)
		}
		return msg
	}
	cosign := func(msg []byte) []byte {
		body := msg[:bytes.LastIndex(msg, []byte("\n\n"))+1]
		sig := make([]byte, 4+8, 4+8+ed25519.SignatureSize)
		binary.BigEndian.PutUint32(sig, wid)
		binary.BigEndian.PutUint64(sig[4:], genCosigTime)
		sig = append(sig, ed25519.Sign(wpriv, cosignedMessage(genCosigTime, string(body)))...)
		line := fmt.Sprintf("— %s %s\n", genWitnessName, base64.StdEncoding.EncodeToString(sig))
		return append(append([]byte{}, msg...), line...)
	}

	// Grow the log through a few sizes, writing the tiles each size needs,
	// as a real log would: full tiles once, partials at new paths.
	steps := map[int64]bool{n: true}
	for _, s := range []int64{1, 2, 255, 256, 257, n / 2, n - 1} {
		if s >= 1 && s <= n {
			steps[s] = true
		}
	}
	var sizes []int64
	for s := range steps {
		sizes = append(sizes, s)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	files := 0
	for _, s := range sizes {
		for _, t := range tilesForSize(s) {
			p := filepath.Join(dir, filepath.FromSlash(c2spTilePath(t)))
			if _, err := os.Stat(p); err == nil {
				continue
			}
			var data []byte
			if t.L == -1 {
				for i := t.N * tileWidth; i < t.N*tileWidth+int64(t.W); i++ {
					e := genEntry(i)
					data = binary.BigEndian.AppendUint16(data, uint16(len(e)))
					data = append(data, e...)
				}
			} else if data, err = tlog.ReadTileData(t, tree); err != nil {
				fail("gen: tlog.ReadTileData: %v", err)
			}
			writeFileNew(p, data)
			files++
		}
	}

	// Checkpoint (log signature + one witness cosignature).
	cp := cosign(sign(n))
	writeFileNew(filepath.Join(dir, "checkpoint"), cp)

	// Inclusion proofs (C2SP tlog-proof) and the entries they prove.
	nProofs := 0
	seen := map[int64]bool{}
	for _, i := range []int64{0, 1, 255, 256, n / 2, n - 1} {
		if i < 0 || i >= n || seen[i] {
			continue
		}
		seen[i] = true
		proof, err := tlog.ProveRecord(n, i, tree)
		if err != nil {
			fail("gen: tlog.ProveRecord(%d, %d): %v", n, i, err)
		}
		var b bytes.Buffer
		b.WriteString(proofHeader + "\n")
		if i == 0 {
			b.WriteString("extra " + base64.StdEncoding.EncodeToString([]byte("goverify extra data")) + "\n")
		}
		fmt.Fprintf(&b, "index %d\n", i)
		for _, h := range proof {
			b.WriteString(h.String() + "\n")
		}
		b.WriteString("\n")
		b.Write(cp)
		writeFileNew(filepath.Join(dir, "proofs", fmt.Sprintf("%d.proof", i)), b.Bytes())
		writeFileNew(filepath.Join(dir, "proofs", fmt.Sprintf("%d.entry", i)), genEntry(i))
		nProofs++
	}

	// Consistency proofs from each earlier size to n: consistency/<m>.checkpoint
	// and consistency/<m>.proof (plain list, one base64 hash per line).
	nCons := 0
	for _, m := range sizes {
		if m < 1 {
			continue // tlog.ProveTree needs m >= 1
		}
		proof, err := tlog.ProveTree(n, m, tree)
		if err != nil {
			fail("gen: tlog.ProveTree(%d, %d): %v", n, m, err)
		}
		var b bytes.Buffer
		for _, h := range proof {
			b.WriteString(h.String() + "\n")
		}
		writeFileNew(filepath.Join(dir, "consistency", fmt.Sprintf("%d.checkpoint", m)), sign(m))
		writeFileNew(filepath.Join(dir, "consistency", fmt.Sprintf("%d.proof", m)), b.Bytes())
		nCons++
	}

	fmt.Printf("ok: gen dir=%s origin=%s size=%d root=%s tile-files=%d proofs=%d consistency=%d\n",
		dir, origin, n, tree.root(n), files, nProofs, nCons)
}

func leafBytes(m *memTree, i int64) []byte {
	h := m.leaf(i)
	return h[:]
}
