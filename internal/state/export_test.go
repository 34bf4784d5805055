package state

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// CheckFile runs bbolt's consistency check over the whole file.
func CheckFile(s *Store) error {
	var errs []error
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// FileName is the base name DefaultPath gives meta.
var FileName = fileName
