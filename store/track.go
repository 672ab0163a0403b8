package store

import (
	"context"
	"errors"
)

// Tracking is the part of Store that keeps the parcels' tracking numbers
// (waybill numbers) of bindings, for couriers' locker systems to find the
// number to text: a tracking number names one binding while it is live or
// in its SMS grace period, and goes with it.
type Tracking interface {
	// AddTrackNos adds tracking numbers to the binding id (live or in
	// grace) and returns all of its numbers, sorted. A number already on
	// it is no change; one on another binding is ErrTrackNoTaken and
	// nothing is added.
	AddTrackNos(ctx context.Context, id string, nos []string) ([]string, error)
	// TrackNos returns the binding's tracking numbers, sorted.
	TrackNos(ctx context.Context, id string) ([]string, error)
	// LookupTrackNo returns the binding a tracking number names and
	// whether it is in its grace period; ErrNotFound for none.
	LookupTrackNo(ctx context.Context, no string) (b Binding, grace bool, err error)
}

// Limits of tracking numbers.
const (
	MaxTrackNos   = 20 // per binding
	maxTrackNoLen = 40
)

// ErrTrackNoTaken: a tracking number is on another binding.
var ErrTrackNoTaken = errors.New("tracking number is on another binding")

// checkTrackNos checks tracking numbers as given: 1 to 40 letters, digits,
// '-' or '_' (what carriers print on waybills), at most MaxTrackNos.
func checkTrackNos(nos []string) error {
	if len(nos) > MaxTrackNos {
		return fieldf("track_nos", "at most %d, not %d", MaxTrackNos, len(nos))
	}
	for _, no := range nos {
		if no == "" || len(no) > maxTrackNoLen {
			return fieldf("track_nos", "%q must be 1 to %d characters", no, maxTrackNoLen)
		}
		for _, c := range []byte(no) {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
				return fieldf("track_nos", "%q: only letters, digits, - and _", no)
			}
		}
	}
	return nil
}
