package ferret

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the driver FerretDB's SQLite backend uses
)

// idIndexes gives every table of FerretDB's SQLite backend an index that
// its lookups by _id can use. FerretDB v1.24 pushes a filter {_id: v} down
// to SQLite as `_ferretdb_sjson->'$._id' = ?`, but indexes _id as
// `_ferretdb_sjson->"_id"`: SQLite matches an index by its expression, so
// every lookup by _id scanned the whole table, and every request that finds,
// updates or deletes one document cost in proportion to its collection
// (bench/load.md). The extra index is SQLite's own: FerretDB keeps its
// indexes in its metadata, lists none but those, and drops a table's indexes
// with the table.
//
// It runs as the proxy's Ran hook, so alone in FerretDB: the first command
// on a collection that has a table makes the index, and a drop forgets it.
type idIndexes struct {
	dir  string
	log  *slog.Logger
	done map[string]bool // by database and collection, joined by a dot
}

func (x *idIndexes) ran(db, collection, command string) {
	if db == "" {
		return
	}
	switch command {
	case "drop":
		delete(x.done, db+"."+collection)
		return
	case "dropDatabase":
		for k := range x.done {
			if strings.HasPrefix(k, db+".") {
				delete(x.done, k)
			}
		}
		return
	}
	if collection == "" || x.done[db+"."+collection] {
		return
	}
	made, err := x.make(db, collection)
	if err != nil {
		x.log.Warn("ferret: index _id as FerretDB looks it up", "database", db, "collection", collection, "err", err)
	}
	// An error is not retried: the lookups still work, only slower.
	x.done[db+"."+collection] = made || err != nil
}

// make creates the index of collection's table, and reports false if the
// collection has no table yet.
func (x *idIndexes) make(db, collection string) (bool, error) {
	path := filepath.Join(x.dir, db+".sqlite")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	// mode=rw: never create a database FerretDB would then find.
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(5000)")
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var table string
	err = conn.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = ?`, collection).Scan(&table)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find the table: %w", err)
	}
	_, err = conn.Exec(fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id')`,
		quote(table+"_ferretdb_id_lookup"), quote(table)))
	if err != nil {
		return false, fmt.Errorf("create the index: %w", err)
	}
	return true, nil
}

// quote quotes an SQL identifier.
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
