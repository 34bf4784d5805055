package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

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

// Fill writes n complete device records (keys %064x of 1 to n) in
// transactions of 50,000, far faster than Update, for tests and
// benchmarks of big state files.
func Fill(s *Store, n int) error {
	for lo := 1; lo <= n; lo += 50_000 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketDevices)
			for i := lo; i < lo+50_000 && i <= n; i++ {
				key := fmt.Sprintf("%064x", i)
				d := Progress{
					CertificateID:  key,
					CertificateARN: "arn:aws:iot:eu-central-1:123456789012:cert/" + key,
					Done:           []string{StepRegister, StepThing, StepPrincipal, PolicyStep("DevicePolicy"), GroupStep("fleet")},
					Status:         "imported",
					Updated:        time.Now().UTC(),
				}
				v, err := json.Marshal(&d)
				if err != nil {
					return err
				}
				if err := b.Put([]byte(key), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
